//! Where a `COPY` or `WORKDIR` destination lands in the stage's filesystem (BuildKit resolves
//! it in the image below: symlinks followed, an existing directory copied into and left with
//! its metadata). A stage whose filesystem is all its `COPY`s put there answers at analysis;
//! over a built image, a [`ProbeDestination`] action answers once that image is.

use bld_core::beneath::{Node, resolve_in_root};
use bld_dockerfile::context::ContextEntry;
use bld_graph::{
    Action, ActionGraph, ActionKind, Below, EntryContent, Input, Landing, LandingOf, LayerEntry,
    PackLayer, ProbeDestination,
};

use crate::copy::{FsEntry, StageFs};
use crate::error::{LowerError, Problem, Site};
use crate::stages::{Lowering, StageState};

impl Lowering<'_> {
    /// Where the absolute, cleaned destination `dest` (`/app`) lands in the stage so far:
    /// known at analysis when the stage's filesystem is (and no user must be looked up),
    /// else the output of a probe over the image so far. `user` is the `USER` (or, with
    /// `for_chown`, the `--chown`) to resolve through the image's passwd and group files.
    pub(crate) fn landing(
        &self,
        state: &StageState<'_>,
        site: Site<'_>,
        graph: &mut ActionGraph,
        dest: &str,
        (user, for_chown): (Option<&str>, bool),
    ) -> Result<LandingOf, Problem> {
        if *state.fs_known && user.is_none() {
            return known_landing(state.fs, dest).map(LandingOf::Known);
        }
        let image = self.image_so_far(state, site, graph);
        let build = self.build;
        let probe = graph.add(Action {
            owner: build.owner.clone(),
            output_name: format!(
                "{}.landing/line-{}",
                build.output_name, site.located.start_line
            ),
            origin: Some(site.location()),
            kind: ActionKind::ProbeDestination(Box::new(ProbeDestination {
                image: Input::Output(image),
                dest: dest.to_owned(),
                user: user.map(str::to_owned),
                for_chown,
            })),
        });
        Ok(LandingOf::Probed(Input::Output(probe)))
    }

    /// Lowers `WORKDIR` at `site` (its path already applied to the stage's config, its
    /// history text `created_by`): the directory is made, as the stage's `USER`, in a layer of
    /// its own, as BuildKit does — an empty one when it exists; none for `/`.
    pub(crate) fn lower_workdir(
        &self,
        site: Site<'_>,
        state: &mut StageState<'_>,
        graph: &mut ActionGraph,
        created_by: String,
    ) -> Result<(), LowerError> {
        let workdir = state.config.workdir.clone();
        let path = workdir.trim_matches('/').to_owned();
        if path.is_empty() {
            state.add_empty(created_by);
            return Ok(());
        }
        let user = Some(state.config.user.as_str()).filter(|u| !u.is_empty());
        let landing = self
            .landing(state, site, graph, &workdir, (user, false))
            .map_err(|p| site.error(p))?;
        // The directory and its missing parents are what the landing lists down to it.
        let (entries, below) = match landing {
            LandingOf::Known(landing) if landing.is_dir => (Vec::new(), None),
            LandingOf::Known(landing) => {
                let entries = landing.directories((0, 0));
                record(state.fs, &entries);
                (entries, None)
            }
            LandingOf::Probed(landing) => {
                // Made once built: the stage's files are no longer all known at analysis.
                *state.fs_known = false;
                (
                    Vec::new(),
                    Some(Below {
                        landing,
                        dest: path,
                        file_name: None,
                        must_be_dir: false,
                        owner: None,
                        empty_if_dir: true,
                        chown_all: false,
                    }),
                )
            }
        };
        let build = self.build;
        let layer = graph.add(Action {
            owner: build.owner.clone(),
            output_name: format!(
                "{}.layers/line-{}.tar.gz",
                build.output_name, site.located.start_line
            ),
            origin: Some(site.location()),
            kind: ActionKind::PackLayer(PackLayer {
                entries,
                mtime: build.source_date_epoch,
                below,
            }),
        });
        state.add_layer(layer, created_by);
        Ok(())
    }
}

/// The stage's filesystem gets the directories `entries` made.
fn record(fs: &mut StageFs, entries: &[LayerEntry]) {
    for entry in entries {
        if let EntryContent::Dir { mode } = entry.content {
            fs.entry(entry.path.clone()).or_insert(FsEntry {
                content: entry.content.clone(),
                owner: (entry.uid, entry.gid),
                planned: ContextEntry::Dir { mode },
            });
        }
    }
}

/// Where `dest` lands in a filesystem known at analysis.
fn known_landing(fs: &StageFs, dest: &str) -> Result<Landing, Problem> {
    let node = |path: &str| {
        fs.get(path).map(|entry| match &entry.planned {
            ContextEntry::Dir { .. } => Node::Dir,
            ContextEntry::Symlink { target } => Node::Symlink(target.clone()),
            ContextEntry::File { .. } => Node::Other,
        })
    };
    let path = resolve_in_root(dest, true, true, node)
        .map_err(|e| Problem::user(format!("destination `{dest}`: {e} in the stage")))?;
    Ok(Landing::along(path, |prefix| match fs.get(prefix)? {
        FsEntry {
            planned: ContextEntry::Dir { mode },
            owner: (uid, gid),
            ..
        } => Some((*mode, *uid, *gid)),
        _ => None,
    }))
}
