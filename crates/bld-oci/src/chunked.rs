//! Layer compression in independent gzip members, compressed in parallel and cached.
//!
//! The uncompressed tar is cut into chunks; each chunk becomes one gzip member (RFC 1952
//! allows a stream of members, and every OCI tool reads them as one stream). Cuts are made
//! after tar entries whose path hashes to a fixed residue once a chunk holds [`MIN_CHUNK`]
//! bytes, and inside long runs every [`MAX_CHUNK`] bytes, so a cut depends only on nearby
//! content: changing one file changes its chunk, and the cuts after it fall where they fell
//! before within a chunk or two. Each full chunk's compressed member is kept in the store under
//! the digest of the chunk, so rebuilding a layer after a small change recompresses only what
//! changed, as pigz's `--rsyncable` and zstd:chunked aim for. A smaller chunk (a small layer,
//! a layer's tail) is compressed again when needed: keeping it would cost two more files per
//! layer, which cost more than compressing it on a disk slow to allocate inodes.

use std::collections::VecDeque;
use std::fs;
use std::io::{self, Write};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError, sync_channel};
use std::time::Duration;

use bld_core::{Digest, Sha256Writer};
use bld_store::{BlobWriter, Store};
use sha2::{Digest as _, Sha256};

use crate::gzip::GzipWriter;

/// Longest chunk: cuts are forced inside longer stretches.
const MAX_CHUNK: usize = 4 << 20;
/// Shortest chunk ended at an entry boundary, and the shortest kept in the chunk cache.
const MIN_CHUNK: usize = 1 << 20;
/// An entry boundary is a cut when its path hashes to 0 modulo this.
const CUT_MODULUS: u64 = 32;
/// Bytes of chunks being compressed at once (bounds memory to about this).
const IN_FLIGHT: usize = 8 * MAX_CHUNK;

/// Writes a tar stream into a blob as cached gzip members, each compressed by a job of the
/// rayon `scope` while the stream goes on being written (as `tar | gzip` overlap); members
/// are written to the blob in order as they are done.
pub(crate) struct ChunkedGzip<'s, 'a> {
    store: &'s Store,
    scope: &'a rayon::Scope<'s>,
    level: u32,
    out: BlobWriter<'s>,
    uncompressed: Sha256,
    current: Vec<u8>,
    /// The chunks being compressed, in stream order, with their sizes.
    pending: VecDeque<(usize, Receiver<io::Result<Vec<u8>>>)>,
    in_flight: usize,
}

fn path_hash(path: &str) -> u64 {
    // FNV-1a: stable across runs and machines, unlike the standard library's hashers.
    path.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl<'s, 'a> ChunkedGzip<'s, 'a> {
    /// A writer into a new blob of `store`, compressing at `level` in jobs of `scope`.
    pub(crate) fn new(
        store: &'s Store,
        scope: &'a rayon::Scope<'s>,
        level: u32,
    ) -> Result<Self, bld_store::StoreError> {
        Ok(ChunkedGzip {
            store,
            scope,
            level,
            out: store.blob_writer()?,
            uncompressed: Sha256::new(),
            current: Vec::with_capacity(MAX_CHUNK),
            pending: VecDeque::new(),
            in_flight: 0,
        })
    }

    /// Called after each tar entry: may end the current chunk.
    pub(crate) fn entry_written(&mut self, path: &str) -> io::Result<()> {
        if self.current.len() >= MIN_CHUNK && path_hash(path).is_multiple_of(CUT_MODULUS) {
            self.cut()?;
        }
        Ok(())
    }

    /// Hands the current chunk to a compression job, then writes the members already done
    /// (waiting for the oldest while too much is in flight).
    fn cut(&mut self) -> io::Result<()> {
        let chunk = std::mem::replace(&mut self.current, Vec::with_capacity(MAX_CHUNK));
        let (store, level) = (self.store, self.level);
        let (done, member_of) = sync_channel(1);
        self.in_flight += chunk.len();
        self.pending.push_back((chunk.len(), member_of));
        self.scope.spawn(move |_| {
            let _ = done.send(member(store, level, &chunk));
        });
        self.write_done(false)?;
        while self.in_flight > IN_FLIGHT {
            self.write_oldest()?;
        }
        Ok(())
    }

    /// Writes the members at the head of the queue that are done (all of them, waiting, when
    /// `all`).
    fn write_done(&mut self, all: bool) -> io::Result<()> {
        while let Some((size, member_of)) = self.pending.front() {
            match member_of.try_recv() {
                Ok(member) => {
                    let size = *size;
                    self.pending.pop_front();
                    self.write_member(size, member)?;
                }
                Err(TryRecvError::Empty) if !all => return Ok(()),
                Err(_) => self.write_oldest()?,
            }
        }
        Ok(())
    }

    /// Waits for the oldest chunk's member and writes it.
    fn write_oldest(&mut self) -> io::Result<()> {
        let Some((size, member_of)) = self.pending.pop_front() else {
            return Ok(());
        };
        let member = wait_for(&member_of);
        self.write_member(size, member)
    }

    /// Writes the member of a chunk of `size` bytes to the blob.
    fn write_member(&mut self, size: usize, member: io::Result<Vec<u8>>) -> io::Result<()> {
        self.in_flight -= size;
        self.out.write_all(&member?)
    }

    /// Ends the stream; returns the blob writer and the digest of the uncompressed stream.
    pub(crate) fn finish(mut self) -> io::Result<(BlobWriter<'s>, Digest)> {
        if !self.current.is_empty() {
            self.cut()?;
        }
        self.write_done(true)?;
        let diff_id = Digest::from_bytes(self.uncompressed.finalize().into());
        Ok((self.out, diff_id))
    }
}

/// The member a compression job sends on `member_of`. A rayon worker waiting here runs other
/// jobs meanwhile (maybe the very one it waits for), so every worker of a pool waiting on its
/// own layer's members cannot leave their jobs unrun; outside a pool it only waits.
fn wait_for(member_of: &Receiver<io::Result<Vec<u8>>>) -> io::Result<Vec<u8>> {
    let ended = || io::Error::other("a compression job ended without its member");
    loop {
        match member_of.try_recv() {
            Ok(member) => return member,
            Err(TryRecvError::Disconnected) => return Err(ended()),
            Err(TryRecvError::Empty) => {}
        }
        if rayon::yield_now() == Some(rayon::Yield::Executed) {
            continue;
        }
        match member_of.recv_timeout(Duration::from_millis(1)) {
            Ok(member) => return member,
            Err(RecvTimeoutError::Disconnected) => return Err(ended()),
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

impl Write for ChunkedGzip<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.uncompressed.update(buf);
        let mut rest = buf;
        while !rest.is_empty() {
            let room = MAX_CHUNK - self.current.len();
            let (now, later) = rest.split_at(room.min(rest.len()));
            self.current.extend_from_slice(now);
            rest = later;
            if self.current.len() == MAX_CHUNK {
                self.cut()?;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `chunk` as one gzip member, and the member's digest.
fn compress(level: u32, chunk: &[u8]) -> io::Result<(Vec<u8>, Digest)> {
    let mut gzip = GzipWriter::new(
        Sha256Writer::new(Vec::with_capacity(chunk.len() / 3)),
        level,
    )?;
    gzip.write_all(chunk)?;
    let (member, digest, _) = gzip.finish()?.finish();
    Ok((member, digest))
}

/// Whether `member` is exactly one gzip member holding `chunk`. A cache entry is only a claim:
/// an intact member of another chunk must not be served (inflating costs a fraction of
/// compressing).
fn inflates_to(member: &[u8], chunk: &[u8]) -> bool {
    let mut decoder = flate2::bufread::GzDecoder::new(member);
    let mut inflated = Vec::with_capacity(chunk.len());
    let complete = io::Read::read_to_end(&mut decoder, &mut inflated).is_ok();
    complete && decoder.into_inner().is_empty() && inflated == chunk
}

/// The gzip member for `chunk`: from the store's chunk cache when it is there, intact and
/// really that chunk's, else compressed now (and cached when the chunk is a full one).
fn member(store: &Store, level: u32, chunk: &[u8]) -> io::Result<Vec<u8>> {
    if chunk.len() < MIN_CHUNK {
        return compress(level, chunk).map(|(member, _)| member);
    }
    let mut key = Sha256::new();
    key.update(format!("gzip-member-v1 level {level}\n"));
    key.update(chunk);
    let key = Digest::from_bytes(key.finalize().into());
    let index = store.root().join("chunks").join(key.hex());
    if let Some(member) = fs::read_to_string(&index)
        .ok()
        .and_then(|text| text.trim().parse::<Digest>().ok())
        .and_then(|digest| store.read_blob(&digest).ok())
        .filter(|member| inflates_to(member, chunk))
    {
        return Ok(member);
    }
    let (member, digest) = compress(level, chunk)?;
    let (stored, _) = store.put_bytes(&member).map_err(io::Error::other)?;
    debug_assert_eq!(stored, digest);
    fs::create_dir_all(index.parent().expect("invariant: chunks/ has a parent"))?;
    store
        .write_atomically(&index, format!("{digest}\n").as_bytes())
        .map_err(io::Error::other)?;
    Ok(member)
}
