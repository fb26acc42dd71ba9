//! `COPY` and `ADD` of files: Docker's rules for what is copied where (from the build context or
//! from an earlier stage), lowered to one layer action each.
//!
//! Without `RUN`, a stage's filesystem is exactly what its `COPY`s put there, so it is known at
//! analysis: every stage keeps a [`StageFs`], and `COPY --from=<stage>` plans over it and reuses
//! the same inputs.

use std::collections::BTreeMap;

use std::collections::HashMap;

use bld_dockerfile::context::{ContextEntry, ContextTree, CopyOptions, PlannedKind, plan_copy};
use bld_dockerfile::{Heredoc, ShellLex};
use bld_graph::{
    Action, ActionGraph, ActionId, ActionKind, CopyFromImage, EntryContent, FileMode, Input,
    LayerEntry, PackLayer,
};

use super::config::StageConfig;
use super::{DockerfileBuild, at_line};
use crate::FrontendError;

/// What a stage's filesystem holds at one path.
#[derive(Debug, Clone)]
pub(crate) struct FsEntry {
    /// The layer entry that put it there (owner included).
    pub(crate) content: EntryContent,
    /// How `COPY --from` planning sees it.
    pub(crate) planned: ContextEntry,
}

/// A stage's filesystem, by absolute path without the leading `/`.
pub(crate) type StageFs = BTreeMap<String, FsEntry>;

/// One `COPY` or `ADD`.
pub(crate) struct CopyRequest<'a> {
    /// `COPY` or `ADD`.
    pub(crate) keyword: &'static str,
    /// Sources as written.
    pub(crate) sources: &'a [String],
    /// Destination as written.
    pub(crate) dest: &'a str,
    /// `--chown`.
    pub(crate) chown: Option<&'a str>,
    /// `--chmod`.
    pub(crate) chmod: Option<&'a str>,
    /// `--parents`.
    pub(crate) parents: bool,
    /// `--exclude`.
    pub(crate) exclude: &'a [String],
    /// `--from=<stage>`: that stage's filesystem.
    pub(crate) from_stage: Option<&'a StageFs>,
    /// `--from=` a stage or image whose files are known only once built: copied at execution.
    pub(crate) from_image: Option<Input>,
    /// Heredocs (`COPY <<EOF /dest`): files made from their text.
    pub(crate) heredocs: &'a [Heredoc],
}

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

fn parse_chown(text: &str) -> Result<(u32, u32), String> {
    let (user, group) = text.split_once(':').unwrap_or((text, text));
    match (user.parse::<u32>(), group.parse::<u32>()) {
        (Ok(uid), Ok(gid)) => Ok((uid, gid)),
        _ => Err(format!(
            "--chown={text}: bld supports numeric UID[:GID] so far (user and group names need the image's /etc/passwd)"
        )),
    }
}

fn parse_chmod(text: &str) -> Result<u32, String> {
    u32::from_str_radix(text, 8)
        .ok()
        .filter(|bits| *bits <= 0o7777)
        .ok_or_else(|| format!("--chmod={text}: expected octal permission bits such as 755"))
}

/// Lowers one `COPY`/`ADD` to a layer action; updates the stage's filesystem. Returns the
/// action and its history `created_by` (two of them when heredocs join a `--from` an image
/// whose files are known only once built: its files, then the heredocs).
pub(crate) fn lower_copy(
    build: &DockerfileBuild,
    lex: &ShellLex,
    config: &StageConfig,
    fs: &mut StageFs,
    request: &CopyRequest<'_>,
    line: usize,
    graph: &mut ActionGraph,
) -> Result<Vec<(ActionId, String)>, FrontendError> {
    let fail = |message: String| at_line(build, line, format!("{}: {message}", request.keyword));
    let mut sources = Vec::new();
    for source in request.sources {
        sources.push(config.expand(lex, source).map_err(&fail)?);
    }
    let dest = config.expand(lex, request.dest).map_err(&fail)?;
    let (uid, gid) = match request.chown {
        Some(chown) => parse_chown(&config.expand(lex, chown).map_err(&fail)?).map_err(&fail)?,
        None => (0, 0),
    };
    let chmod = request.chmod.map(parse_chmod).transpose().map_err(&fail)?;
    let mut layers = Vec::new();
    if let Some(image) = &request.from_image {
        let layer = graph.add(Action {
            owner: build.owner.clone(),
            output_name: format!("{}.layers/line-{line}.tar.gz", build.output_name),
            origin: None,
            kind: ActionKind::CopyFromImage(Box::new(CopyFromImage {
                image: image.clone(),
                sources: sources.clone(),
                dest: dest.clone(),
                workdir: config.workdir.clone(),
                excludes: request.exclude.to_vec(),
                parents: request.parents,
                chown: request.chown.map(|_| (uid, gid)),
                chmod,
                mtime: build.source_date_epoch,
            })),
        });
        let created_by = format!("{} --from {} {dest}", request.keyword, sources.join(" "));
        if request.heredocs.is_empty() {
            return Ok(vec![(layer, created_by)]);
        }
        // The heredocs go in a layer of their own, after the stage's files.
        layers.push((layer, created_by));
        sources.clear();
    }
    let options = CopyOptions {
        workdir: config.workdir.clone(),
        excludes: request.exclude.to_vec(),
        parents: request.parents,
    };
    let mut heredoc_tree = ContextTree::new();
    // Heredocs are files of their own, named by their delimiter, written by actions.
    let mut heredoc_files: HashMap<String, ActionId> = HashMap::new();
    let mut heredoc_names = Vec::new();
    if !request.heredocs.is_empty() {
        if !sources.is_empty() && !dest.ends_with('/') {
            return Err(fail(format!(
                "with more than one source the destination must be a directory ending in `/`, not `{dest}`"
            )));
        }
        let mut raw = lex.clone();
        raw.raw_quotes = true;
        raw.raw_escapes = true;
        let mut entries = Vec::new();
        for heredoc in request.heredocs {
            let text = heredoc.chomped_content();
            let text = if heredoc.expand {
                config.expand(&raw, &text).map_err(&fail)?
            } else {
                text
            };
            let id = graph.add(Action {
                owner: build.owner.clone(),
                output_name: format!(
                    "{}.heredocs/line-{line}-{}",
                    build.output_name, heredoc.name
                ),
                origin: None,
                kind: ActionKind::WriteFile(bld_graph::WriteFile {
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
            heredoc_files.insert(heredoc.name.clone(), id);
            heredoc_names.push(heredoc.name.clone());
        }
        heredoc_tree = ContextTree::from_entries(entries).map_err(|e| fail(e.to_string()))?;
    }
    let from_tree;
    let regular_tree = match request.from_stage {
        Some(stage_fs) => {
            from_tree = ContextTree::from_entries(
                stage_fs.iter().map(|(p, e)| (p.clone(), e.planned.clone())),
            )
            .map_err(|e| fail(e.to_string()))?;
            &from_tree
        }
        None => &build.context,
    };
    // The sources (of the context or a stage) and the heredocs are planned apart, each over its
    // own tree, into one layer.
    let mut plans = Vec::new();
    for (tree, names, from_heredocs) in [
        (regular_tree, &sources, false),
        (&heredoc_tree, &heredoc_names, true),
    ] {
        if !names.is_empty() {
            let plan = plan_copy(tree, names, &dest, &options).map_err(|e| fail(e.to_string()))?;
            plans.push((tree, plan, from_heredocs));
        }
    }

    // ADD unpacks local tar archives into the destination directory.
    let dest_is_dir = dest.ends_with('/')
        || sources.len() > 1
        || sources.iter().any(|s| s.contains(['*', '?', '[']));
    let mut entries = Vec::new();
    for (tree, planned, from_heredocs) in plans
        .into_iter()
        .flat_map(|(tree, plan, h)| plan.into_iter().map(move |p| (tree, p, h)))
    {
        if let (PlannedKind::File { source }, "ADD", None, true) = (
            &planned.kind,
            request.keyword,
            request.from_stage,
            planned.top_level && !from_heredocs,
        ) {
            let on_disk = build.context_dir.join(source);
            let is_archive = match &build.sources {
                Some(sources) => sources.is_tar_archive(&on_disk),
                None => bld_core::is_tar_archive(&on_disk),
            };
            if is_archive.map_err(|e| fail(format!("cannot read `{source}`: {e}")))? {
                let path = if dest_is_dir {
                    planned
                        .dest
                        .rsplit_once('/')
                        .map_or(String::new(), |(parent, _)| parent.to_owned())
                } else {
                    planned.dest.clone()
                };
                let input = Input::Source(if build.context_prefix.is_empty() {
                    source.clone()
                } else {
                    format!("{}/{source}", build.context_prefix)
                });
                entries.push(LayerEntry {
                    path,
                    content: EntryContent::Archive { input },
                    uid: 0,
                    gid: 0,
                });
                continue;
            }
        }
        let (content, planned_entry) = match planned.kind {
            PlannedKind::File { source } => {
                let (input, mode, size, source_mode) = match request.from_stage {
                    _ if from_heredocs => {
                        let Some(ContextEntry::File { size, .. }) = tree.get(&source) else {
                            return Err(fail(format!("internal: no heredoc `{source}`")));
                        };
                        (
                            Input::Output(heredoc_files[&source]),
                            FileMode::Exact(0o644),
                            *size,
                            0o644,
                        )
                    }
                    Some(stage_fs) => {
                        let entry = &stage_fs[&source];
                        let (
                            EntryContent::File { input, mode },
                            ContextEntry::File { mode: bits, size },
                        ) = (&entry.content, &entry.planned)
                        else {
                            return Err(fail(format!(
                                "internal: `{source}` is not a file in the stage"
                            )));
                        };
                        (input.clone(), *mode, *size, *bits)
                    }
                    None => {
                        let Some(ContextEntry::File { mode, size }) = build.context.get(&source)
                        else {
                            return Err(fail(format!(
                                "internal: `{source}` is not a file in the context"
                            )));
                        };
                        let path = if build.context_prefix.is_empty() {
                            source.clone()
                        } else {
                            format!("{}/{source}", build.context_prefix)
                        };
                        (Input::Source(path), FileMode::KeepPermissions, *size, *mode)
                    }
                };
                let mode = chmod.map_or(mode, FileMode::Exact);
                let bits = chmod.unwrap_or(source_mode);
                (
                    EntryContent::File { input, mode },
                    ContextEntry::File { mode: bits, size },
                )
            }
            PlannedKind::Dir { source } => {
                let source_mode = source
                    .as_ref()
                    .and_then(|s| tree.get(s))
                    .and_then(|e| match e {
                        ContextEntry::Dir { mode } => Some(*mode),
                        _ => None,
                    })
                    .unwrap_or(0o755);
                let mode = chmod.unwrap_or(source_mode);
                (EntryContent::Dir { mode }, ContextEntry::Dir { mode })
            }
            PlannedKind::Symlink { target } => (
                EntryContent::Symlink {
                    target: target.clone(),
                },
                ContextEntry::Symlink { target },
            ),
        };
        if !matches!(planned_entry, ContextEntry::Dir { .. }) {
            // A file or link replaces whatever directory was there, and its contents.
            remove_inside(fs, &planned.dest);
        }
        fs.insert(
            planned.dest.clone(),
            FsEntry {
                content: content.clone(),
                planned: planned_entry,
            },
        );
        entries.push(LayerEntry {
            path: planned.dest,
            content,
            uid,
            gid,
        });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let mut created_by = format!("{} ", request.keyword);
    for (flag, value) in [
        ("--from", None::<&str>),
        ("--chown", request.chown),
        ("--chmod", request.chmod),
    ] {
        if let Some(value) = value {
            created_by.push_str(&format!("{flag}={value} "));
        }
    }
    let shown: Vec<&String> = sources.iter().chain(&heredoc_names).collect();
    created_by.push_str(&format!(
        "{} {dest}",
        shown
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    ));
    let suffix = if layers.is_empty() { "" } else { "-heredocs" };
    let layer = graph.add(Action {
        owner: build.owner.clone(),
        output_name: format!("{}.layers/line-{line}{suffix}.tar.gz", build.output_name),
        origin: None,
        kind: ActionKind::PackLayer(PackLayer {
            entries,
            mtime: build.source_date_epoch,
        }),
    });
    layers.push((layer, created_by));
    Ok(layers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> FsEntry {
        FsEntry {
            content: EntryContent::Dir { mode: 0o755 },
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
