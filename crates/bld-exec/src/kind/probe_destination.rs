//! [`ProbeDestination`]: the destination resolved in the image's unpacked layers, the
//! directories above it stat'ed there, the user looked up in its /etc/passwd.

use std::os::unix::fs::MetadataExt;

use bld_graph::{Landing, ProbeDestination};
use bld_sandbox::LayerStack;

use super::{Execute, Run};
use crate::image_fs::{resolve_user_for, unpacked_layers};
use crate::{ActionOutput, Failure};

impl Execute for ProbeDestination {
    fn execute(&self, run: &Run<'_>) -> Result<ActionOutput, Failure> {
        let manifest = run.image(&self.image, "the image below")?;
        let (lowers, _) = unpacked_layers(run.store(), &manifest)?;
        let image = LayerStack::new(&lowers);
        let path = image.resolve_for_create(&self.dest).map_err(|e| {
            Failure::user(format!(
                "destination `{}`: {e} in the image below",
                self.dest
            ))
        })?;
        let mut landing = Landing::along(path, |prefix| {
            let meta = image.metadata(prefix).filter(std::fs::Metadata::is_dir)?;
            Some((meta.mode() & 0o7777, meta.uid(), meta.gid()))
        });
        landing.user = match &self.user {
            Some(user) => Some(chown_ids(user, &lowers, self.for_chown)?),
            None => None,
        };
        let json = serde_json::to_vec(&landing).map_err(Failure::internal)?;
        let (digest, size) = run.store().put_bytes(&json).map_err(Failure::of)?;
        Ok(ActionOutput::File {
            digest,
            size,
            executable: false,
        })
    }
}

/// `USER` as the owner of what a file operation makes, by BuildKit's rule (its `readUser`): a
/// name through the image's /etc/passwd (its group too), a number without a group is also the
/// group — unlike a process, which gets group 0 then.
fn chown_ids(
    user: &str,
    lowers: &[std::path::PathBuf],
    for_chown: bool,
) -> Result<(u32, u32), Failure> {
    let asked = if for_chown {
        format!("--chown={user}")
    } else {
        format!("USER {user}")
    };
    let run_as = resolve_user_for(&asked, user, lowers)?;
    match user.parse::<u32>() {
        Ok(uid) => Ok((uid, uid)),
        Err(_) => Ok((run_as.uid, run_as.gid)),
    }
}

/// The [`Landing`] a [`ProbeDestination`] wrote, read back from its output.
pub(crate) fn read_landing(run: &Run<'_>, input: &bld_graph::Input) -> Result<Landing, Failure> {
    let bytes = std::fs::read(run.path_of(input)).map_err(Failure::internal)?;
    serde_json::from_slice(&bytes).map_err(Failure::internal)
}
