//! sha256 digests, written `sha256:<64 hex digits>` as OCI does.

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// A sha256 digest of some content.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

/// A string that is not `sha256:` followed by 64 lowercase hex digits.
#[derive(Debug, thiserror::Error)]
#[error("invalid digest `{0}`: expected `sha256:` followed by 64 lowercase hex digits")]
pub struct DigestParseError(pub String);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(Sha256::digest(bytes).into())
    }

    /// Wraps raw digest bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Digest {
        Digest(bytes)
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 hex digits, without the `sha256:` prefix.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits without the algorithm prefix.
    pub fn from_hex(hex_digits: &str) -> Result<Digest, DigestParseError> {
        let mut bytes = [0u8; 32];
        if hex_digits.len() != 64 || hex_digits.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(DigestParseError(hex_digits.to_owned()));
        }
        hex::decode_to_slice(hex_digits, &mut bytes)
            .map_err(|_| DigestParseError(hex_digits.to_owned()))?;
        Ok(Digest(bytes))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Digest {
    type Err = DigestParseError;

    fn from_str(s: &str) -> Result<Digest, DigestParseError> {
        let hex_digits = s
            .strip_prefix("sha256:")
            .ok_or_else(|| DigestParseError(s.to_owned()))?;
        Digest::from_hex(hex_digits).map_err(|_| DigestParseError(s.to_owned()))
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A reader that hashes and counts everything read through it, so content is checked against
/// its digest while it streams.
pub struct Sha256Reader<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
}

impl<R: io::Read> Sha256Reader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Sha256Reader {
            inner,
            hasher: Sha256::new(),
            read: 0,
        }
    }

    /// The wrapped reader, and the digest and size of everything read through it so far.
    pub fn finish(self) -> (R, Digest, u64) {
        (self.inner, Digest(self.hasher.finalize().into()), self.read)
    }

    /// Reads what is left of the wrapped reader (so the digest covers all of it), then
    /// [`Sha256Reader::finish`]es.
    pub fn finish_all(mut self) -> io::Result<(R, Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.finish())
    }
}

impl<R: io::Read> io::Read for Sha256Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// A writer that hashes and counts everything written through it before passing it on, so
/// content is digested while it streams (never read twice).
pub struct Sha256Writer<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Sha256Writer<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Sha256Writer {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// The wrapped writer, its content's digest and size.
    pub fn finish(self) -> (W, Digest, u64) {
        (
            self.inner,
            Digest(self.hasher.finalize().into()),
            self.written,
        )
    }

    /// The wrapped writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
}

impl<W: Write> Write for Sha256Writer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        let d = Digest::of(b"hello");
        let text = d.to_string();
        assert_eq!(
            text,
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(text.parse::<Digest>().expect("parses"), d);
    }

    #[test]
    fn rejects_malformed_digests() {
        for bad in [
            "sha256:abc",
            "md5:00",
            "2cf24dba",
            &format!("sha256:{}", "A".repeat(64)),
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad}");
        }
    }

    #[test]
    fn writer_hashes_what_it_passes_on() {
        let mut w = Sha256Writer::new(Vec::new());
        w.write_all(b"hel").expect("write");
        w.write_all(b"lo").expect("write");
        let (inner, digest, size) = w.finish();
        assert_eq!(inner, b"hello");
        assert_eq!(digest, Digest::of(b"hello"));
        assert_eq!(size, 5);
    }
}
