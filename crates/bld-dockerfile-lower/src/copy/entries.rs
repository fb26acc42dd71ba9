//! The entries of a `COPY`/`ADD` layer: sources planned over the build context or a stage's
//! filesystem with Docker's copy rules, heredocs written as files, `ADD`'s local archives
//! unpacked; the stage's filesystem updated with what the layer puts there.

use std::collections::{BTreeMap, HashMap};

use bld_core::Location;
use bld_dockerfile::ShellLex;
use bld_dockerfile::context::{
    ContextEntry, ContextError, ContextTree, CopyOptions, PlannedEntry, PlannedKind, plan_copy,
};
use bld_graph::{
    Action, ActionGraph, ActionId, ActionKind, EntryContent, FileMode, Input, LayerEntry, WriteFile,
};

use super::CopyRequest;
use crate::DockerfileBuild;
use crate::error::Problem;
use crate::metadata::StageConfig;

/// What a stage's filesystem holds at one path.
#[derive(Debug, Clone)]
pub(crate) struct FsEntry {
    /// The layer entry that put it there.
    pub(crate) content: EntryContent,
    /// Its owner (uid, gid).
    pub(crate) owner: (u32, u32),
    /// How `COPY --from` planning sees it.
    pub(crate) planned: ContextEntry,
}

/// A stage's filesystem, by absolute path without the leading `/`.
pub(crate) type StageFs = BTreeMap<String, FsEntry>;

/// Removes what `fs` holds strictly inside the directory `path`: a range of the sorted map,
/// found in O(log n), not a scan of the whole filesystem for every file copied (which made
/// `COPY . /app` quadratic in the number of files).
fn remove_inside(fs: &mut StageFs, path: &str) {
    let prefix = format!("{path}/");
    let inside: Vec<String> = fs
        .range::<String, _>(&prefix..)
        .map(|(entry, _)| entry)
        .take_while(|entry| entry.starts_with(&prefix))
        .cloned()
        .collect();
    for entry in inside {
        fs.remove(&entry);
    }
}

/// The heredocs of one `COPY`/`ADD`, as files of their own named by their delimiter.
#[derive(Default)]
struct HeredocFiles {
    /// The files, for planning.
    tree: ContextTree,
    /// The action writing each file.
    actions: HashMap<String, ActionId>,
    /// Their names, in order.
    names: Vec<String>,
}

/// Plans one `COPY`/`ADD` into layer entries.
pub(crate) struct Planner<'a> {
    pub(crate) build: &'a DockerfileBuild,
    pub(crate) lex: &'a ShellLex,
    pub(crate) config: &'a StageConfig,
    pub(crate) request: &'a CopyRequest<'a>,
    /// The destination to plan at (the request's, or where it lands when that is known).
    pub(crate) dest: String,
    /// Whether the stage's filesystem below is known only once built: the destination may
    /// then turn out to be a directory (several sources are planned into it), and `fs` does
    /// not say what is there.
    pub(crate) below_unknown: bool,
    /// Set when several sources were planned into a destination that may be a directory.
    pub(crate) several_into_unknown: bool,
    /// `--from=<stage>` whose files are known: that stage's filesystem.
    pub(crate) stage_fs: Option<&'a StageFs>,
    /// The instruction's line, naming the heredoc actions.
    pub(crate) line: usize,
    /// Where the instruction is: the heredoc actions' origin.
    pub(crate) origin: &'a Location,
}

impl Planner<'_> {
    /// The layer's entries, sorted by path, and the heredocs' names; `fs` gets what they put
    /// there.
    pub(crate) fn entries(
        &mut self,
        sources: &[&str],
        fs: &mut StageFs,
        graph: &mut ActionGraph,
    ) -> Result<(Vec<LayerEntry>, Vec<String>), Problem> {
        let request = self.request;
        let heredocs = if request.heredocs.is_empty() {
            HeredocFiles::default()
        } else {
            if !sources.is_empty() && !self.dest.ends_with('/') {
                return Err(Problem::user(format!(
                    "with more than one source the destination must be a directory ending in `/`, not `{}`",
                    request.dest
                )));
            }
            self.write_heredocs(graph)?
        };
        let from_tree;
        let regular_tree = match self.stage_fs {
            Some(stage_fs) => {
                from_tree = ContextTree::from_entries(
                    stage_fs.iter().map(|(p, e)| (p.clone(), e.planned.clone())),
                )
                .map_err(|e| self.planning_error(&e))?;
                &from_tree
            }
            None => &self.build.context,
        };
        // ADD unpacks local tar archives into the destination directory.
        let dest_is_dir = self.dest.ends_with('/')
            || sources.len() > 1
            || sources.iter().any(|s| s.contains(['*', '?', '[']));
        let mut entries = Vec::new();
        // The sources (of the context or a stage) and the heredocs are planned apart, each
        // over its own tree, into one layer.
        for (tree, names, from_heredocs) in [
            (regular_tree, sources.to_vec(), false),
            (
                &heredocs.tree,
                heredocs.names.iter().map(String::as_str).collect(),
                true,
            ),
        ] {
            if names.is_empty() {
                continue;
            }
            let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
            let options = CopyOptions {
                workdir: self.config.workdir.clone(),
                excludes: request.exclude.to_vec(),
                parents: request.parents,
            };
            let plan = match plan_copy(tree, &names, &self.dest, &options) {
                Err(ContextError::DestinationNotDirectory { .. }) if self.below_unknown => {
                    // Whether it is a directory is known once the image below is built.
                    self.several_into_unknown = true;
                    plan_copy(tree, &names, &format!("{}/", self.dest), &options)
                }
                planned => planned,
            }
            .map_err(|e| self.planning_error(&e))?;
            for planned in plan {
                if !from_heredocs
                    && let Some(archive) = self.archive_entry(&planned, dest_is_dir)?
                {
                    entries.push(archive);
                    continue;
                }
                let source = if from_heredocs {
                    Source::Heredocs(&heredocs)
                } else {
                    Source::Tree(tree)
                };
                entries.push(self.planned_entry(planned, source, fs)?);
            }
        }
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Ok((entries, heredocs.names))
    }

    /// An error of planning, located at the source it is about.
    fn planning_error(&self, error: &ContextError) -> Problem {
        let problem = Problem::user(match self.stage_fs {
            Some(_) => error.in_stage(),
            None => error.to_string(),
        });
        let written = error.source_written().and_then(|expanded| {
            self.request
                .sources
                .iter()
                .find(|(_, e)| e == expanded)
                .map(|(written, _)| *written)
        });
        match written {
            Some(written) => problem.at_argument(written),
            None => problem,
        }
    }

    /// Writes each heredoc to a file of its own (its variables expanded unless its delimiter
    /// was quoted).
    fn write_heredocs(&self, graph: &mut ActionGraph) -> Result<HeredocFiles, Problem> {
        let build = self.build;
        let mut raw = self.lex.clone();
        raw.raw_quotes = true;
        raw.raw_escapes = true;
        let mut files = HeredocFiles::default();
        let mut entries = Vec::new();
        for heredoc in self.request.heredocs {
            let text = heredoc.chomped_content();
            let text = if heredoc.expand {
                self.config.expand(&raw, &text)?
            } else {
                text
            };
            let id = graph.add(Action {
                owner: build.owner.clone(),
                output_name: format!(
                    "{}.heredocs/line-{}-{}",
                    build.output_name, self.line, heredoc.name
                ),
                origin: Some(self.origin.clone()),
                kind: ActionKind::WriteFile(WriteFile {
                    content: text.as_bytes().to_vec(),
                    executable: false,
                }),
            });
            entries.push((
                heredoc.name.clone(),
                ContextEntry::File {
                    mode: 0o644,
                    size: text.len() as u64,
                },
            ));
            files.actions.insert(heredoc.name.clone(), id);
            files.names.push(heredoc.name.clone());
        }
        files.tree = ContextTree::from_entries(entries).map_err(|e| self.planning_error(&e))?;
        Ok(files)
    }

    /// For `ADD`, a local tar archive named as a source: unpacked into the destination
    /// directory (or at the destination, when it names one file).
    fn archive_entry(
        &self,
        planned: &PlannedEntry,
        dest_is_dir: bool,
    ) -> Result<Option<LayerEntry>, Problem> {
        let build = self.build;
        let PlannedKind::File { source } = &planned.kind else {
            return Ok(None);
        };
        if self.request.keyword != "ADD" || self.stage_fs.is_some() || !planned.top_level {
            return Ok(None);
        }
        let on_disk = build.context_dir.join(source);
        let is_archive = build
            .files
            .is_tar_archive(&on_disk)
            .map_err(|e| Problem::user(format!("cannot read `{source}`: {e}")))?;
        if !is_archive {
            return Ok(None);
        }
        let path = if dest_is_dir {
            planned
                .dest
                .rsplit_once('/')
                .map_or(String::new(), |(parent, _)| parent.to_owned())
        } else {
            planned.dest.clone()
        };
        Ok(Some(LayerEntry {
            path,
            content: EntryContent::Archive {
                input: Input::Source(build.context_path(source)),
            },
            uid: 0,
            gid: 0,
        }))
    }

    /// The layer entry for one planned path; `fs` gets it, and a file or link replaces
    /// whatever directory was there.
    fn planned_entry(
        &self,
        planned: PlannedEntry,
        source: Source<'_>,
        fs: &mut StageFs,
    ) -> Result<LayerEntry, Problem> {
        let chmod = self.request.chmod.map(|(_, bits)| bits);
        let (uid, gid) = self.owner_of(&planned.kind);
        let path_made = matches!(planned.kind, PlannedKind::Dir { source: None });
        let (content, planned_entry) = match planned.kind {
            PlannedKind::File { source: path } => {
                let (input, mode, size, source_mode) = self.file_source(&path, source)?;
                let mode = chmod.map_or(mode, FileMode::Exact);
                let bits = chmod.unwrap_or(source_mode);
                (
                    EntryContent::File { input, mode },
                    ContextEntry::File { mode: bits, size },
                )
            }
            PlannedKind::Dir { source: path } => {
                // A directory made because the destination needs it (the destination itself,
                // its parents) is 0755, whatever `--chmod` says, as Docker 20.10 and BuildKit
                // before 0.21 make it (moby/moby#49851).
                let mode = match path.as_ref().and_then(|s| source.tree().get(s)) {
                    Some(ContextEntry::Dir { mode }) => chmod.unwrap_or(*mode),
                    _ => 0o755,
                };
                (EntryContent::Dir { mode }, ContextEntry::Dir { mode })
            }
            PlannedKind::Symlink { target, .. } => (
                EntryContent::Symlink {
                    target: target.clone(),
                },
                ContextEntry::Symlink { target },
            ),
        };
        if !self.below_unknown {
            conflict(fs, &planned.dest, &planned_entry)?;
        }
        if !matches!(planned_entry, ContextEntry::Dir { .. }) {
            remove_inside(fs, &planned.dest);
        } else if path_made
            && fs
                .get(&planned.dest)
                .is_some_and(|e| matches!(e.planned, ContextEntry::Dir { .. }))
        {
            // A directory the destination needs that is already there keeps its metadata.
            return Ok(LayerEntry {
                path: planned.dest,
                content,
                uid,
                gid,
            });
        }
        fs.insert(
            planned.dest.clone(),
            FsEntry {
                content: content.clone(),
                owner: (uid, gid),
                planned: planned_entry,
            },
        );
        Ok(LayerEntry {
            path: planned.dest,
            content,
            uid,
            gid,
        })
    }

    /// Who owns a planned path: `--chown`'s owner when given; else, copying from a stage,
    /// the owner the path has there (Docker keeps it, moby/moby#38599); else root.
    fn owner_of(&self, kind: &PlannedKind) -> (u32, u32) {
        let source = match kind {
            PlannedKind::File { source }
            | PlannedKind::Dir {
                source: Some(source),
            }
            | PlannedKind::Symlink { source, .. } => Some(source),
            PlannedKind::Dir { source: None } => None,
        };
        match (self.request.chown, self.stage_fs, source) {
            (None, Some(stage_fs), Some(source)) => {
                stage_fs.get(source).map_or((0, 0), |entry| entry.owner)
            }
            _ => self.request.owner,
        }
    }

    /// Where a planned file's content comes from: its input, how its mode is set, its size
    /// and its source's permission bits.
    fn file_source(
        &self,
        path: &str,
        source: Source<'_>,
    ) -> Result<(Input, FileMode, u64, u32), Problem> {
        if let Source::Heredocs(heredocs) = source {
            let Some(ContextEntry::File { size, .. }) = heredocs.tree.get(path) else {
                return Err(Problem::internal(format!("no heredoc `{path}`")));
            };
            let input = Input::Output(heredocs.actions[path]);
            return Ok((input, FileMode::Exact(0o644), *size, 0o644));
        }
        if let Some(stage_fs) = self.stage_fs {
            let entry = &stage_fs[path];
            let (EntryContent::File { input, mode }, ContextEntry::File { mode: bits, size }) =
                (&entry.content, &entry.planned)
            else {
                return Err(Problem::internal(format!(
                    "`{path}` is not a file in the stage"
                )));
            };
            return Ok((input.clone(), *mode, *size, *bits));
        }
        let Some(ContextEntry::File { mode, size }) = self.build.context.get(path) else {
            return Err(Problem::internal(format!(
                "`{path}` is not a file in the context"
            )));
        };
        let input = Input::Source(self.build.context_path(path));
        Ok((input, FileMode::KeepPermissions, *size, *mode))
    }
}

/// BuildKit's refusal to put a directory where an earlier layer of the stage put a file or
/// symlink, or a file or symlink where it put a directory.
fn conflict(fs: &StageFs, dest: &str, planned: &ContextEntry) -> Result<(), Problem> {
    let is_dir = |entry: &ContextEntry| matches!(entry, ContextEntry::Dir { .. });
    match fs.get(dest) {
        Some(existing) if is_dir(planned) && !is_dir(&existing.planned) => Err(Problem::user(
            format!("cannot copy to non-directory: `/{dest}` is a file or symlink in the stage"),
        )),
        Some(existing) if !is_dir(planned) && is_dir(&existing.planned) => {
            Err(Problem::user(format!(
                "cannot replace to directory `/{dest}` with file: it is a directory in the stage"
            )))
        }
        _ => Ok(()),
    }
}

/// The tree a planned path comes from.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// The build context or a stage's filesystem.
    Tree(&'a ContextTree),
    /// The heredocs.
    Heredocs(&'a HeredocFiles),
}

impl Source<'_> {
    fn tree(&self) -> &ContextTree {
        match self {
            Source::Tree(tree) => tree,
            Source::Heredocs(heredocs) => &heredocs.tree,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> FsEntry {
        FsEntry {
            content: EntryContent::Dir { mode: 0o755 },
            owner: (0, 0),
            planned: ContextEntry::Dir { mode: 0o755 },
        }
    }

    /// Only what is strictly inside the directory goes, not its neighbours in the sorted
    /// order (`a.b`, `a0`, `ab`, which sort around `a/`), over a filesystem of 30,000 entries.
    #[test]
    fn remove_inside_takes_exactly_the_directory_contents() {
        let mut fs = StageFs::new();
        for name in ["a", "a.b", "a0", "ab", "a/", "b"] {
            for index in 0..5_000 {
                fs.insert(format!("{name}/f{index}"), entry());
            }
        }
        for name in ["a", "a.b", "a0", "ab", "b", "a/b", "a/b/c"] {
            fs.insert(name.to_owned(), entry());
        }
        remove_inside(&mut fs, "a");
        assert!(fs.keys().all(|path| !path.starts_with("a/")), "a/ emptied");
        assert!(fs.contains_key("a"), "the directory itself stays");
        for name in ["a.b", "a0", "ab", "b"] {
            let inside = fs
                .keys()
                .filter(|path| path.starts_with(&format!("{name}/")))
                .count();
            assert_eq!(inside, 5_000, "{name} keeps its files");
        }
        assert_eq!(fs.len(), 4 * 5_000 + 5);
    }
}
