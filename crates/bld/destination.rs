//! Where a command writes an archive the user asked for: a file, written beside its final path
//! and renamed into place so that it is never half-written, or stdout when it is no terminal.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use crate::{Classified, Failure, FailureContext};

/// Where an output is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Destination {
    /// A file, written beside and renamed into place.
    File(PathBuf),
    /// Standard output (`dest=-`), which must not be a terminal.
    Stdout,
}

pub(crate) type WriteOut<'a> = &'a dyn Fn(&mut dyn Write) -> Result<(), Failure>;

/// Writes to `dest` through `write`: a file beside its final path first, then renamed into
/// place, so it is never half-written; stdout only when it is no terminal (else the user is
/// told to give `file_flag`).
pub(crate) fn write_to(
    dest: &Destination,
    file_flag: &str,
    write: WriteOut<'_>,
) -> Result<(), Failure> {
    let path = match dest {
        Destination::Stdout => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                return Err(Failure::user(format!(
                    "refusing to write an archive to a terminal: give `{file_flag}` or redirect stdout"
                )));
            }
            let mut out = std::io::BufWriter::new(stdout.lock());
            write(&mut out)?;
            return out
                .flush()
                .internal_fault()
                .with_context(|| "cannot write the archive to stdout");
        }
        Destination::File(path) => path,
    };
    let cannot_write = || format!("cannot write `{}`", path.display());
    let temp = beside(path, "new")?;
    if path.is_dir() {
        return Err(Failure::user(format!(
            "{}: it is a directory; give a file name",
            cannot_write()
        )));
    }
    let written = (|| -> Result<(), Failure> {
        let file = std::fs::File::create(&temp)
            .user_error()
            .with_context(cannot_write)?;
        let mut out = std::io::BufWriter::new(file);
        write(&mut out)?;
        out.flush().user_error().with_context(cannot_write)?;
        std::fs::rename(&temp, path)
            .user_error()
            .with_context(cannot_write)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// A fresh name beside `path` (`.NAME.bld-WHAT-PID`), on the same filesystem.
pub(crate) fn beside(path: &Path, what: &str) -> Result<PathBuf, Failure> {
    let name = path
        .file_name()
        .ok_or_else(|| Failure::user(format!("`{}` is not a file name", path.display())))?;
    Ok(path.with_file_name(format!(
        ".{}.bld-{what}-{}",
        name.to_string_lossy(),
        std::process::id()
    )))
}
