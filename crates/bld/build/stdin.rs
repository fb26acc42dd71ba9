//! `bld build -` and `bld build -f -`: the build context or the Dockerfile read from stdin, as
//! `docker build` reads them. `-` as the context is a tar archive of it (plain or gzip, unpacked
//! as a layer is: nothing written outside its directory) or a Dockerfile alone, which then has
//! no context at all.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use bld_store::Store;

use super::BuildArgs;
use crate::{Classified, Failure, FailureContext};

/// The argument that names stdin.
pub(super) const STDIN: &str = "-";

/// A context read from stdin, in a directory of the store's `tmp/` removed when dropped.
pub(super) struct StdinContext {
    dir: PathBuf,
    /// The Dockerfile, when stdin held one instead of a tar.
    pub(super) dockerfile: Option<String>,
}

impl StdinContext {
    /// The context directory.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads stdin: a tar archive of the context is unpacked, anything else is the Dockerfile.
    pub(super) fn read(args: &BuildArgs, store: &Store) -> Result<StdinContext, Failure> {
        if args.file.as_deref() == Some(Path::new(STDIN)) {
            return Err(Failure::user(
                "`-f -` and the context `-` both read stdin: give the context as a directory",
            ));
        }
        let bytes = read_stdin("the build context")?;
        let dir = store.temp_path("context");
        std::fs::create_dir_all(&dir).internal_fault()?;
        let mut context = StdinContext {
            dir,
            dockerfile: None,
        };
        let gzip = bytes.starts_with(&[0x1f, 0x8b]);
        let tar = bytes.len() >= 262 && &bytes[257..262] == b"ustar";
        if !gzip && !tar {
            let text = String::from_utf8(bytes).map_err(|_| {
                Failure::user("stdin is neither a tar archive nor a Dockerfile (not UTF-8 text)")
            })?;
            context.dockerfile = Some(text);
            return Ok(context);
        }
        let mut input: Box<dyn Read> = if gzip {
            Box::new(flate2::read::MultiGzDecoder::new(bytes.as_slice()))
        } else {
            Box::new(bytes.as_slice())
        };
        bld_sandbox::unpack_tar(&mut input, &context.dir, Path::new("stdin"))?;
        Ok(context)
    }
}

impl Drop for StdinContext {
    fn drop(&mut self) {
        let _ = bld_sandbox::discard(&self.dir, &self.dir);
    }
}

/// All of stdin, which must not be a terminal; `what` names what it should hold.
pub(super) fn read_stdin(what: &str) -> Result<Vec<u8>, Failure> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(Failure::user(format!(
            "no {what} on stdin: pipe one in (`< FILE`)"
        )));
    }
    let mut bytes = Vec::new();
    stdin
        .lock()
        .read_to_end(&mut bytes)
        .user_error()
        .with_context(|| format!("cannot read {what} from stdin"))?;
    Ok(bytes)
}
