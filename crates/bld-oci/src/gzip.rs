//! A gzip writer that reuses its deflate state across layers on each thread.
//!
//! A deflate state at level 6 is a few hundred KiB; allocating and freeing one per layer from
//! several threads fragments glibc's heap badly (a 10,000-layer build grew to over 1 GiB of
//! RSS). Each thread keeps one state and resets it instead. The output is a plain, single-member
//! gzip stream with a fixed header (no name, mtime 0, OS "unknown"), so it is reproducible.

use std::cell::RefCell;
use std::io::{self, Write};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// gzip magic, deflate, no flags, mtime 0, no extra flags, OS 255 (unknown).
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
const OUTPUT_CHUNK: usize = 64 * 1024;

thread_local! {
    static SPARE: RefCell<Option<(Compress, Vec<u8>)>> = const { RefCell::new(None) };
}

/// Writes a gzip stream of everything written to it into `inner`.
pub(crate) struct GzipWriter<W: Write> {
    inner: W,
    state: Option<(Compress, Vec<u8>)>,
    crc: Crc,
}

impl<W: Write> GzipWriter<W> {
    /// Starts a stream at `level`, writing the header.
    pub(crate) fn new(mut inner: W, level: u32) -> io::Result<Self> {
        let state = SPARE.with(|spare| spare.borrow_mut().take());
        let state = match state {
            Some((mut compress, buffer)) => {
                compress.reset();
                (compress, buffer)
            }
            None => (
                Compress::new(Compression::new(level), false),
                Vec::with_capacity(OUTPUT_CHUNK),
            ),
        };
        inner.write_all(&HEADER)?;
        Ok(GzipWriter {
            inner,
            state: Some(state),
            crc: Crc::new(),
        })
    }

    fn run(&mut self, mut input: &[u8], flush: FlushCompress) -> io::Result<Status> {
        let (compress, buffer) = self.state.as_mut().expect("invariant: state until finish");
        loop {
            buffer.clear();
            let before = compress.total_in();
            let status = compress
                .compress_vec(input, buffer, flush)
                .map_err(|e| io::Error::other(format!("deflate: {e}")))?;
            let consumed = (compress.total_in() - before) as usize;
            input = &input[consumed..];
            self.inner.write_all(buffer)?;
            let done = match flush {
                FlushCompress::Finish => status == Status::StreamEnd,
                _ => input.is_empty() && buffer.len() < buffer.capacity(),
            };
            if done {
                return Ok(status);
            }
        }
    }

    /// Ends the stream (trailer included) and returns the inner writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.run(&[], FlushCompress::Finish)?;
        self.inner.write_all(&self.crc.sum().to_le_bytes())?;
        self.inner.write_all(&self.crc.amount().to_le_bytes())?;
        let state = self.state.take();
        SPARE.with(|spare| *spare.borrow_mut() = state);
        Ok(self.inner)
    }
}

impl<W: Write> Write for GzipWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.crc.update(data);
        self.run(data, FlushCompress::None)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn round_trips_and_is_reproducible() {
        let data: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let compress = |data: &[u8]| {
            let mut w = GzipWriter::new(Vec::new(), 6).expect("new");
            for chunk in data.chunks(7_000) {
                w.write_all(chunk).expect("write");
            }
            w.finish().expect("finish")
        };
        let first = compress(&data);
        assert_eq!(
            compress(&data),
            first,
            "a reused deflate state gives the same bytes"
        );
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(first.as_slice())
            .read_to_end(&mut back)
            .expect("gunzip");
        assert_eq!(back, data);
        let mut empty = Vec::new();
        let gz = compress(&[]);
        flate2::read::GzDecoder::new(gz.as_slice())
            .read_to_end(&mut empty)
            .expect("gunzip");
        assert!(empty.is_empty());
    }
}
