//! A layer's diff ID (the digest of the tar inside its gzip), worked out while the blob
//! streams in, so that adding a pulled image to the store reads no layer a second time.

use std::io::{self, Write};

use bld_core::{Digest, Sha256Writer};
use flate2::write::MultiGzDecoder;

/// Gzip's magic bytes.
const GZIP: [u8; 2] = [0x1f, 0x8b];

/// A writer that never fails: the bytes of a layer blob go in, its diff ID comes out of
/// [`TarDigest::finish`], or nothing when they are not a gzip stream bld can read (the store's
/// loader then reads the layer itself and says what is wrong with it).
pub(crate) struct TarDigest {
    state: State,
}

enum State {
    /// The first bytes, until there are enough to tell gzip.
    Sniffing(Vec<u8>),
    Gzip(Box<MultiGzDecoder<Sha256Writer<io::Sink>>>),
    /// Not compressed: the tar is the blob.
    Plain,
    Broken,
}

impl TarDigest {
    pub(crate) fn new() -> TarDigest {
        TarDigest {
            state: State::Sniffing(Vec::new()),
        }
    }

    /// The diff ID of a layer whose blob digest is `blob`, if the bytes were readable.
    pub(crate) fn finish(self, blob: &Digest) -> Option<Digest> {
        match self.state {
            State::Gzip(decoder) => decoder.finish().ok().map(|hashed| hashed.finish().1),
            State::Plain => Some(*blob),
            State::Sniffing(head) if !head.is_empty() && !head.starts_with(&GZIP[..1]) => {
                Some(*blob)
            }
            State::Sniffing(_) | State::Broken => None,
        }
    }

    fn feed(&mut self, buf: &[u8]) {
        if let State::Sniffing(head) = &mut self.state {
            head.extend_from_slice(buf);
            if head.len() < GZIP.len() {
                return;
            }
            let head = std::mem::take(head);
            self.state = if head.starts_with(&GZIP) {
                State::Gzip(Box::new(MultiGzDecoder::new(Sha256Writer::new(io::sink()))))
            } else {
                State::Plain
            };
            self.feed(&head);
            return;
        }
        if let State::Gzip(decoder) = &mut self.state
            && decoder.write_all(buf).is_err()
        {
            self.state = State::Broken;
        }
    }
}

impl Write for TarDigest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.feed(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes to `A`, then gives the same bytes to `B`.
pub(crate) struct Tee<A, B>(pub(crate) A, pub(crate) B);

impl<A: Write, B: Write> Write for Tee<A, B> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.0.write(buf)?;
        self.1.write_all(&buf[..n])?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()?;
        self.1.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::TarDigest;
    use bld_core::Digest;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).expect("gzip");
        encoder.finish().expect("gzip")
    }

    #[test]
    fn the_tar_under_the_gzip_is_hashed_in_any_pieces() {
        let tar = vec![7u8; 100_000];
        let mut blob = gzip(&tar[..60_000]);
        blob.extend(gzip(&tar[60_000..]));
        for piece in [1, 2, 3, 4096] {
            let mut digest = TarDigest::new();
            for chunk in blob.chunks(piece) {
                digest.write_all(chunk).expect("never fails");
            }
            assert_eq!(digest.finish(&Digest::of(&blob)), Some(Digest::of(&tar)));
        }
        let mut plain = TarDigest::new();
        plain.write_all(b"not gzip").expect("never fails");
        assert_eq!(plain.finish(&Digest::of(b"x")), Some(Digest::of(b"x")));
        let mut broken = TarDigest::new();
        broken
            .write_all(&[0x1f, 0x8b, 0, 0, 0, 0])
            .expect("never fails");
        assert_eq!(broken.finish(&Digest::of(b"x")), None);
    }
}
