//! [`ProbeDestination`]: where a `COPY` or `WORKDIR` destination lands in the filesystem of
//! the image below it, which is known only once that image is built.
//!
//! Docker resolves a destination inside the image (symlinks followed, `/bin` → `usr/bin`),
//! copies *into* it when it already is a directory, and its layer holds the directories
//! above what it wrote with their metadata in the image (so `COPY f /tmp/f` keeps `/tmp`
//! 1777). A [`Landing`] records exactly that much, so the layer that uses it is rebuilt only
//! when the answer changes, not whenever the image below does.

use serde::{Deserialize, Serialize};

use crate::{EntryContent, Input, InputIdentity, KeyEncoder, Kind, LayerEntry};

/// Finds where `dest` lands in `image`; the output is a [`Landing`] as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeDestination {
    /// The image below the instruction.
    pub image: Input,
    /// The destination, absolute and cleaned (`/app`, `/` for the root).
    pub dest: String,
    /// `USER` (`WORKDIR` makes its directories as that user) or `--chown` to resolve through
    /// the image's /etc/passwd and /etc/group, if any.
    pub user: Option<String>,
    /// Whether `user` is a `--chown` (for messages only).
    pub for_chown: bool,
}

impl Kind for ProbeDestination {
    fn encode_key(&self, key: &mut KeyEncoder, identity: &dyn Fn(&Input) -> InputIdentity) {
        let ProbeDestination {
            image,
            dest,
            user,
            for_chown: _, // only what an error says
        } = self;
        key.tag("probe_destination");
        key.input(identity(image));
        key.str(dest);
        key.opt_str(user.as_deref());
    }

    fn inputs<'a>(&'a self, inputs: &mut Vec<&'a Input>) {
        inputs.push(&self.image);
    }

    fn describe(&self) -> String {
        format!("find {} in the image below", self.dest)
    }
}

/// A directory that exists in the image below, with its metadata there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExistingDir {
    /// Path relative to the root.
    pub path: String,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// Where a destination lands in the filesystem below it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Landing {
    /// The destination resolved inside the image (every symlink followed; what does not exist
    /// yet appended), relative to the root: `""` is the root.
    pub path: String,
    /// Whether `path` already is a directory.
    pub is_dir: bool,
    /// The directories among `path`'s ancestors (and `path` itself) that exist, root first.
    pub existing: Vec<ExistingDir>,
    /// The probed `USER` as uid and gid.
    pub user: Option<(u32, u32)>,
}

impl Landing {
    /// The landing at `path` (resolved, relative), the directories along it read with
    /// `dir_at` (a directory's mode, uid and gid; `None` where there is no directory).
    pub fn along(path: String, mut dir_at: impl FnMut(&str) -> Option<(u32, u32, u32)>) -> Landing {
        let mut landing = Landing {
            is_dir: path.is_empty(),
            ..Landing::default()
        };
        for prefix in prefixes(&path) {
            let Some((mode, uid, gid)) = dir_at(prefix) else {
                break;
            };
            landing.existing.push(ExistingDir {
                path: prefix.to_owned(),
                mode,
                uid,
                gid,
            });
            landing.is_dir = prefix.len() == path.len();
        }
        landing.path = path;
        landing
    }

    /// The directories from the root down to `path` (the root itself excluded) as layer
    /// entries: those that exist with their metadata, the others made 0755 for `owner`.
    pub fn directories(&self, owner: (u32, u32)) -> Vec<LayerEntry> {
        prefixes(&self.path)
            .map(|path| {
                let existing = self.existing.iter().find(|d| d.path == path);
                let (mode, (uid, gid)) =
                    existing.map_or((0o755, owner), |d| (d.mode, (d.uid, d.gid)));
                LayerEntry {
                    path: path.to_owned(),
                    content: EntryContent::Dir { mode },
                    uid,
                    gid,
                }
            })
            .collect()
    }

    /// The destination to plan a copy with: the landing path, ending in `/` when it is a
    /// directory (or was written as one), so the copy goes into it.
    pub fn planning_dest(&self, written_as_dir: bool) -> String {
        if self.path.is_empty() {
            "/".to_owned()
        } else if self.is_dir || written_as_dir {
            format!("/{}/", self.path)
        } else {
            format!("/{}", self.path)
        }
    }
}

/// Where a destination's [`Landing`] comes from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum LandingOf {
    /// Known at analysis (the stage's filesystem is all its `COPY`s put there).
    Known(Landing),
    /// A [`ProbeDestination`]'s output.
    Probed(Input),
}

impl LandingOf {
    pub(crate) fn encode_key(
        &self,
        key: &mut KeyEncoder,
        identity: &dyn Fn(&Input) -> InputIdentity,
    ) {
        match self {
            LandingOf::Known(landing) => {
                let Landing {
                    path,
                    is_dir,
                    existing,
                    user,
                } = landing;
                key.tag("known");
                key.str(path);
                key.bool(*is_dir);
                key.u64(existing.len() as u64);
                for ExistingDir {
                    path,
                    mode,
                    uid,
                    gid,
                } in existing
                {
                    key.str(path);
                    key.u64((*mode).into());
                    key.u64((*uid).into());
                    key.u64((*gid).into());
                }
                key.opt_owner(*user);
            }
            LandingOf::Probed(input) => {
                key.tag("probed");
                key.input(identity(input));
            }
        }
    }
}

/// How a layer planned before the image below was known is placed once it is: its entries
/// were planned at `dest` (as if nothing existed there) and move to where it lands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Below {
    /// The [`ProbeDestination`] output.
    pub landing: Input,
    /// Where the entries were planned: the destination, relative, cleaned.
    pub dest: String,
    /// For a single file copied to a destination not written as a directory: its name, under
    /// which it goes when the destination is a directory.
    pub file_name: Option<String>,
    /// Several sources were planned into `dest`: it must be a directory.
    pub must_be_dir: bool,
    /// Who owns directories made for the destination (`None`: the probed user, or root).
    pub owner: Option<(u32, u32)>,
    /// `WORKDIR`: nothing to make when the destination already is a directory.
    pub empty_if_dir: bool,
    /// `--chown` by name: every entry belongs to the probed user.
    pub chown_all: bool,
}

impl Below {
    pub(crate) fn encode_key(
        &self,
        key: &mut KeyEncoder,
        identity: &dyn Fn(&Input) -> InputIdentity,
    ) {
        let Below {
            landing,
            dest,
            file_name,
            must_be_dir,
            owner,
            empty_if_dir,
            chown_all,
        } = self;
        key.tag("below");
        key.input(identity(landing));
        key.str(dest);
        key.opt_str(file_name.as_deref());
        key.bool(*must_be_dir);
        key.opt_owner(*owner);
        key.bool(*empty_if_dir);
        key.bool(*chown_all);
    }

    /// `entries` moved to where the destination lands, with the directories above them as
    /// the image has them.
    ///
    /// # Errors
    ///
    /// Several sources and a destination that is not a directory.
    pub fn place(
        &self,
        entries: &[LayerEntry],
        landing: &Landing,
    ) -> Result<Vec<LayerEntry>, String> {
        if self.empty_if_dir && landing.is_dir {
            return Ok(Vec::new());
        }
        if self.must_be_dir && !landing.is_dir {
            return Err(format!(
                "with more than one source the destination must be a directory ending in `/`, and `/{}` is not a directory in the image below",
                self.dest
            ));
        }
        let owner = self.owner.or(landing.user).unwrap_or((0, 0));
        let mut placed = landing.place(
            entries.to_vec(),
            &self.dest,
            self.file_name.as_deref(),
            owner,
        );
        if self.chown_all {
            let existing = |path: &str| landing.existing.iter().any(|d| d.path == path);
            for entry in placed.iter_mut().filter(|e| !existing(&e.path)) {
                (entry.uid, entry.gid) = owner;
            }
        }
        Ok(placed)
    }
}

impl Landing {
    /// `entries`, planned at `dest` as if nothing were there, moved to where it lands (a
    /// single file named `file_name` into it when it is a directory), with the directories
    /// down to it as [`Landing::directories`] gives them: an existing directory keeps its
    /// metadata whatever was planned for it.
    pub fn place(
        &self,
        entries: Vec<LayerEntry>,
        dest: &str,
        file_name: Option<&str>,
        owner: (u32, u32),
    ) -> Vec<LayerEntry> {
        let mut placed: std::collections::BTreeMap<String, LayerEntry> = self
            .directories(owner)
            .into_iter()
            .map(|d| (d.path.clone(), d))
            .collect();
        for mut entry in entries {
            let Some(rest) = inside(&entry.path, dest) else {
                continue; // a directory above the destination: the image's own
            };
            let is_dir = matches!(entry.content, EntryContent::Dir { .. });
            let is_file = matches!(
                entry.content,
                EntryContent::File { .. } | EntryContent::Symlink { .. }
            );
            // An archive at the destination unpacks into it, whatever it is.
            let path = match file_name {
                Some(name) if self.is_dir && rest.is_empty() && is_file => join(&self.path, name),
                _ => join(&self.path, rest),
            };
            if is_dir && self.existing.iter().any(|d| d.path == path) {
                continue;
            }
            entry.path.clone_from(&path);
            placed.insert(path, entry);
        }
        // The root is never an entry of its own (an archive unpacked there is).
        placed
            .into_values()
            .filter(|e| !(e.path.is_empty() && matches!(e.content, EntryContent::Dir { .. })))
            .collect()
    }
}

/// `a`, `a/b`, `a/b/c` for `a/b/c`; nothing for the root `""`.
fn prefixes(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/')
        .map(|(end, _)| &path[..end])
        .chain((!path.is_empty()).then_some(path))
}

/// `path` relative to `dir` when it is `dir` or inside it (`""` for `dir` itself).
fn inside<'p>(path: &'p str, dir: &str) -> Option<&'p str> {
    if dir.is_empty() {
        return Some(path);
    }
    let rest = path.strip_prefix(dir)?;
    if rest.is_empty() {
        Some(rest)
    } else {
        rest.strip_prefix('/')
    }
}

fn join(dir: &str, rest: &str) -> String {
    match (dir.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_owned(),
        (false, true) => dir.to_owned(),
        (false, false) => format!("{dir}/{rest}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(path: &str, mode: u32, uid: u32) -> LayerEntry {
        LayerEntry {
            path: path.to_owned(),
            content: EntryContent::Dir { mode },
            uid,
            gid: uid,
        }
    }

    fn file(path: &str) -> LayerEntry {
        LayerEntry {
            path: path.to_owned(),
            content: EntryContent::Symlink {
                target: "t".to_owned(),
            },
            uid: 0,
            gid: 0,
        }
    }

    fn listing(entries: &[LayerEntry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| match e.content {
                EntryContent::Dir { mode } => format!("{}/ {mode:o} {}", e.path, e.uid),
                _ => format!("{} {}", e.path, e.uid),
            })
            .collect()
    }

    fn below(dest: &str, file_name: Option<&str>) -> Below {
        Below {
            landing: Input::Source("landing".to_owned()),
            dest: dest.to_owned(),
            file_name: file_name.map(str::to_owned),
            must_be_dir: false,
            owner: Some((7, 7)),
            empty_if_dir: false,
            chown_all: false,
        }
    }

    /// `COPY f /www/f2` where `/www` → `srv/www` (0750, owner 5) and `/srv` is 0755 root.
    #[test]
    fn entries_move_through_symlinks_and_keep_the_image_s_directories() {
        let landing = Landing {
            path: "srv/www/f2".to_owned(),
            is_dir: false,
            existing: vec![
                ExistingDir {
                    path: "srv".into(),
                    mode: 0o755,
                    uid: 0,
                    gid: 0,
                },
                ExistingDir {
                    path: "srv/www".into(),
                    mode: 0o750,
                    uid: 5,
                    gid: 5,
                },
            ],
            user: None,
        };
        let planned = [dir("www", 0o755, 7), file("www/f2")];
        let placed = below("www/f2", Some("f2"))
            .place(&planned, &landing)
            .expect("place");
        assert_eq!(
            listing(&placed),
            ["srv/ 755 0", "srv/www/ 750 5", "srv/www/f2 0"]
        );
    }

    /// `COPY f /app` where `/app` is a directory: the file goes into it; made directories
    /// below a missing part belong to `--chown`.
    #[test]
    fn a_file_goes_into_an_existing_directory() {
        let landing = Landing {
            path: "app".to_owned(),
            is_dir: true,
            existing: vec![ExistingDir {
                path: "app".into(),
                mode: 0o700,
                uid: 3,
                gid: 3,
            }],
            user: None,
        };
        let placed = below("app", Some("f"))
            .place(&[file("app")], &landing)
            .expect("place");
        assert_eq!(listing(&placed), ["app/ 700 3", "app/f 0"]);
        let missing = Landing {
            path: "a/b".to_owned(),
            ..Landing::default()
        };
        let placed = below("a/b", Some("f"))
            .place(&[file("a/b")], &missing)
            .expect("place");
        assert_eq!(listing(&placed), ["a/ 755 7", "a/b 0"]);
        let mut several = below("app", None);
        several.must_be_dir = true;
        assert!(several.place(&[file("app/x")], &missing).is_err());
    }
}
