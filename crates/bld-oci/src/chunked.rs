//! Layer compression in independent gzip members, compressed in parallel and cached.
//!
//! The uncompressed tar is cut into chunks; each chunk becomes one gzip member (RFC 1952
//! allows a stream of members, and every OCI tool reads them as one stream). Cuts are made
//! after tar entries whose path hashes to a fixed residue, and inside long runs every
//! [`MAX_CHUNK`] bytes, so a cut depends only on nearby content: changing one file changes
//! only its chunk. Each chunk's compressed member is kept in the store under the digest of the
//! chunk, so rebuilding a layer after a small change recompresses only what changed, as
//! pigz's `--rsyncable` and zstd:chunked aim for.

use std::fs;
use std::io::{self, Write};

use bld_core::{Digest, Sha256Writer};
use bld_store::{BlobWriter, Store};
use rayon::prelude::*;
use sha2::{Digest as _, Sha256};

use crate::gzip::GzipWriter;

/// Longest chunk: cuts are forced inside longer stretches.
const MAX_CHUNK: usize = 4 << 20;
/// An entry boundary is a cut when its path hashes to 0 modulo this.
const CUT_MODULUS: u64 = 32;
/// Chunks compressed together (bounds memory to about `BATCH * MAX_CHUNK`).
const BATCH: usize = 8;

/// Writes a tar stream into a blob as cached, parallel-compressed gzip members.
pub(crate) struct ChunkedGzip<'s> {
    store: &'s Store,
    level: u32,
    out: BlobWriter<'s>,
    uncompressed: Sha256,
    current: Vec<u8>,
    ready: Vec<Vec<u8>>,
}

fn path_hash(path: &str) -> u64 {
    // FNV-1a: stable across runs and machines, unlike the standard library's hashers.
    path.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl<'s> ChunkedGzip<'s> {
    /// A writer into a new blob of `store`, compressing at `level`.
    pub(crate) fn new(store: &'s Store, level: u32) -> Result<Self, bld_store::StoreError> {
        Ok(ChunkedGzip {
            store,
            level,
            out: store.blob_writer()?,
            uncompressed: Sha256::new(),
            current: Vec::with_capacity(MAX_CHUNK),
            ready: Vec::new(),
        })
    }

    /// Called after each tar entry: may end the current chunk.
    pub(crate) fn entry_written(&mut self, path: &str) -> io::Result<()> {
        if path_hash(path).is_multiple_of(CUT_MODULUS) && !self.current.is_empty() {
            self.cut()?;
        }
        Ok(())
    }

    fn cut(&mut self) -> io::Result<()> {
        let chunk = std::mem::replace(&mut self.current, Vec::with_capacity(MAX_CHUNK));
        self.ready.push(chunk);
        if self.ready.len() >= BATCH {
            self.flush_ready()?;
        }
        Ok(())
    }

    /// Compresses (or finds in the cache) every ready chunk, in parallel, and writes them in
    /// order.
    fn flush_ready(&mut self) -> io::Result<()> {
        let chunks = std::mem::take(&mut self.ready);
        let (store, level) = (self.store, self.level);
        let members: Vec<io::Result<Vec<u8>>> = chunks
            .par_iter()
            .map(|chunk| member(store, level, chunk))
            .collect();
        for member in members {
            self.out.write_all(&member?)?;
        }
        Ok(())
    }

    /// Ends the stream; returns the blob writer and the digest of the uncompressed stream.
    pub(crate) fn finish(mut self) -> io::Result<(BlobWriter<'s>, Digest)> {
        if !self.current.is_empty() {
            let chunk = std::mem::take(&mut self.current);
            self.ready.push(chunk);
        }
        self.flush_ready()?;
        let diff_id = Digest::from_bytes(self.uncompressed.finalize().into());
        Ok((self.out, diff_id))
    }
}

impl Write for ChunkedGzip<'_> {
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
/// really that chunk's, else compressed now and cached.
fn member(store: &Store, level: u32, chunk: &[u8]) -> io::Result<Vec<u8>> {
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
    let mut gzip = GzipWriter::new(
        Sha256Writer::new(Vec::with_capacity(chunk.len() / 3)),
        level,
    )?;
    gzip.write_all(chunk)?;
    let (member, digest, _) = gzip.finish()?.finish();
    let (stored, _) = store.put_bytes(&member).map_err(io::Error::other)?;
    debug_assert_eq!(stored, digest);
    fs::create_dir_all(index.parent().expect("invariant: chunks/ has a parent"))?;
    store
        .write_atomically(&index, format!("{digest}\n").as_bytes())
        .map_err(io::Error::other)?;
    Ok(member)
}
