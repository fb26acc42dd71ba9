//! Recognizing the archives Docker's `ADD` unpacks.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Whether the file at `path` is an archive `ADD` unpacks: gzip-compressed or plain tar.
pub fn is_tar_archive(path: &Path) -> io::Result<bool> {
    let mut head = [0u8; 512];
    let mut file = File::open(path)?;
    let mut filled = 0;
    while filled < head.len() {
        let n = file.read(&mut head[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    let head = &head[..filled];
    Ok(head.starts_with(&[0x1f, 0x8b]) || (head.len() >= 262 && &head[257..262] == b"ustar"))
}
