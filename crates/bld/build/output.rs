//! `bld build -o`: where the built image goes besides the store, as buildx's `--output` takes
//! it (`type=oci|docker|tar|local,dest=…`), and bld's own `-o DIR` (an OCI image layout).

use std::io::Write;
use std::path::{Path, PathBuf};

use bld_core::{Digest, ImageReference};
use bld_oci::{ArchiveFormat, SavedImage, save_archive};
use bld_store::{FileDigests, Store};

use crate::destination::{Destination, beside, write_to};
use crate::{Classified, Failure, FailureContext};

/// What `-o` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Output {
    /// `-o DIR`: an OCI image layout directory (buildx would write the filesystem there).
    Layout(PathBuf),
    /// `type=oci` or `type=docker`: an image archive (`docker save`'s or an OCI one).
    Archive(ArchiveFormat, Destination),
    /// `type=tar`: the final image's filesystem as one tar archive.
    Tar(Destination),
    /// `type=local`: the final image's filesystem written into a directory.
    Local(PathBuf),
}

impl Output {
    /// Parses `-o`'s value: `DIR`, `-` (a tar on stdout, as with buildx) or
    /// `type=TYPE,dest=DEST`.
    pub(super) fn parse(text: &str) -> Result<Output, Failure> {
        if text == "-" {
            return Ok(Output::Tar(Destination::Stdout));
        }
        if !text.contains('=') {
            return Ok(Output::Layout(PathBuf::from(text)));
        }
        let bad = |why: String| Failure::user(format!("--output `{text}`: {why}"));
        let (mut kind, mut dest) = (None, None);
        for part in text.split(',') {
            match part.split_once('=') {
                Some(("type", v)) => kind = Some(v),
                Some(("dest", v)) => dest = Some(v),
                Some((key, _)) => {
                    return Err(bad(format!("unknown key `{key}`: expected type and dest")));
                }
                None => return Err(bad(format!("`{part}` is not KEY=VALUE"))),
            }
        }
        let kind = kind.unwrap_or("local");
        let dest = match dest {
            Some(dest) if !dest.is_empty() => dest,
            _ => return Err(bad(format!("type={kind} needs `dest=…`"))),
        };
        let file = || match dest {
            "-" => Destination::Stdout,
            path => Destination::File(PathBuf::from(path)),
        };
        match kind {
            "oci" => Ok(Output::Archive(ArchiveFormat::Oci, file())),
            "docker" => Ok(Output::Archive(ArchiveFormat::Docker, file())),
            "tar" => Ok(Output::Tar(file())),
            "local" if dest == "-" => Err(bad(
                "type=local writes a directory: give `dest=DIR`, or type=tar for stdout".into(),
            )),
            "local" => Ok(Output::Local(PathBuf::from(dest))),
            other => Err(Failure::user(format!(
                "unknown output type `{other}`: expected oci, docker, tar or local"
            ))),
        }
    }

    /// Whether it goes to standard output (the summary line then goes to stderr).
    pub(super) fn to_stdout(&self) -> bool {
        matches!(
            self,
            Output::Archive(_, Destination::Stdout) | Output::Tar(Destination::Stdout)
        )
    }

    /// How the summary line names it: ` → PATH`.
    pub(super) fn summary(&self) -> String {
        match self {
            Output::Layout(dir) | Output::Local(dir) => format!(" → {}", dir.display()),
            Output::Archive(_, Destination::File(f)) | Output::Tar(Destination::File(f)) => {
                format!(" → {}", f.display())
            }
            _ => " → stdout".to_owned(),
        }
    }
}

/// Writes `manifest` (named `tags`) as `output` asks.
pub(super) fn write_output(
    store: &Store,
    file_digests: &FileDigests,
    manifest: &Digest,
    tags: &[ImageReference],
    output: &Output,
) -> Result<(), Failure> {
    match output {
        Output::Layout(dir) => {
            let name = tags
                .first()
                .and_then(|t| t.tag.as_deref())
                .unwrap_or("latest");
            let written = bld_oci::write_layout(store, file_digests, manifest, dir, name);
            file_digests.save(store)?;
            written?;
            Ok(())
        }
        Output::Archive(format, dest) => {
            let saved = [SavedImage {
                manifest: *manifest,
                names: tags.iter().map(ToString::to_string).collect(),
            }];
            write_to(dest, "dest=FILE", &|out| {
                Ok(save_archive(store, &saved, *format, out)?)
            })
        }
        Output::Tar(dest) => {
            let lowers = bld_exec::image_layers(store, manifest)?;
            write_to(dest, "dest=FILE", &|out| {
                Ok(bld_sandbox::write_merged_tar(&lowers, out)?)
            })
        }
        Output::Local(dir) => write_local(store, manifest, dir),
    }
}

/// Writes the image's filesystem into `dir`: unpacked into a directory beside it (every write
/// beneath that directory, no symlink of the image followed), which then replaces `dir`.
fn write_local(store: &Store, manifest: &Digest, dir: &Path) -> Result<(), Failure> {
    let cannot_write = || format!("cannot write `{}`", dir.display());
    if std::fs::symlink_metadata(dir).is_ok_and(|m| !m.is_dir()) {
        return Err(Failure::user(format!(
            "{}: it is not a directory",
            cannot_write()
        )));
    }
    let lowers = bld_exec::image_layers(store, manifest)?;
    let staging = beside(dir, "new")?;
    let old = beside(dir, "old")?;
    let tar_path = store.temp_path("filesystem");
    let written = (|| -> Result<(), Failure> {
        std::fs::create_dir(&staging)
            .user_error()
            .with_context(cannot_write)?;
        let mut tar = std::io::BufWriter::new(std::fs::File::create(&tar_path).internal_fault()?);
        bld_sandbox::write_merged_tar(&lowers, &mut tar)?;
        tar.flush().internal_fault()?;
        drop(tar);
        let mut input = std::io::BufReader::new(std::fs::File::open(&tar_path).internal_fault()?);
        bld_sandbox::unpack_tar(&mut input, &staging, dir)?;
        if std::fs::symlink_metadata(dir).is_ok() {
            std::fs::rename(dir, &old)
                .user_error()
                .with_context(cannot_write)?;
        }
        std::fs::rename(&staging, dir)
            .user_error()
            .with_context(cannot_write)
    })();
    let _ = std::fs::remove_file(&tar_path);
    for leftover in [&staging, &old] {
        let _ = bld_sandbox::discard(leftover, leftover);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_buildx_forms() {
        let parse = |t: &str| Output::parse(t).map_err(|e| e.to_string());
        assert_eq!(parse("out"), Ok(Output::Layout("out".into())));
        assert_eq!(parse("-"), Ok(Output::Tar(Destination::Stdout)));
        assert_eq!(
            parse("type=docker,dest=-"),
            Ok(Output::Archive(ArchiveFormat::Docker, Destination::Stdout))
        );
        assert_eq!(parse("dest=d"), Ok(Output::Local("d".into())));
        assert!(parse("type=x,dest=d").is_err());
    }
}
