//! `COPY` and `ADD` (BuildKit's `convert_copy.go`): Docker's rules for what is copied where,
//! from the build context, an earlier stage or an image, lowered to one layer action each.
//!
//! Without `RUN`, a stage's filesystem is exactly what its `COPY`s put there, so it is known at
//! analysis: every stage keeps a [`StageFs`], and `COPY --from=<stage>` plans over it and reuses
//! the same inputs. Once the stage has run a step, or for an image target, `COPY --from` is a
//! [`CopyFromImage`] action the executor plans over the built image.

mod entries;

use bld_dockerfile::context::destination_path;
use bld_dockerfile::{Heredoc, Instruction};
use bld_graph::{
    Action, ActionGraph, ActionId, ActionKind, Below, CopyFromImage, EntryContent, Input, Landing,
    LandingOf, LayerEntry, PackLayer,
};

use crate::error::{LowerError, Problem, Site};
use crate::metadata::StageConfig;
use crate::stages::{Lowering, StageState};

pub(crate) use entries::{FsEntry, StageFs};

/// Where a `COPY` takes its files from.
pub(crate) enum CopySource {
    /// The build context.
    Context,
    /// An earlier stage whose files are known at analysis.
    Stage(StageFs),
    /// A stage or image whose files are known only once built: copied at execution.
    Image(Input),
}

/// One `COPY` or `ADD`, its words expanded.
pub(crate) struct CopyRequest<'a> {
    /// `COPY` or `ADD`.
    pub(crate) keyword: &'static str,
    /// Sources as written, each with its expansion.
    pub(crate) sources: Vec<(&'a str, String)>,
    /// The destination, expanded.
    pub(crate) dest: String,
    /// `--chown` as written, and the owner it gives (`0:0` without it, or when it names a
    /// user or group, which `chown_name` then holds, expanded, for the image to resolve).
    pub(crate) chown: Option<&'a str>,
    pub(crate) owner: (u32, u32),
    pub(crate) chown_name: Option<String>,
    /// `--chmod` as written, and the bits it gives.
    pub(crate) chmod: Option<(&'a str, u32)>,
    /// `--parents`.
    pub(crate) parents: bool,
    /// `--link`: the files land as if on an empty filesystem (BuildKit rebases such a layer
    /// onto any base, so it reads nothing of the one below).
    pub(crate) link: bool,
    /// `--exclude`.
    pub(crate) exclude: &'a [String],
    /// Heredocs (`COPY <<EOF /dest`): files made from their text.
    pub(crate) heredocs: &'a [Heredoc],
}

/// The words of a `COPY` or `ADD` as written.
struct CopyWords<'a> {
    keyword: &'static str,
    sources: &'a [String],
    dest: &'a str,
    chown: Option<&'a str>,
    chmod: Option<&'a str>,
    parents: bool,
    link: bool,
    exclude: &'a [String],
    heredocs: &'a [Heredoc],
}

impl Lowering<'_> {
    /// Lowers the `COPY` at `site` in `stage`.
    pub(crate) fn lower_copy(
        &mut self,
        stage: usize,
        site: Site<'_>,
        state: &mut StageState<'_>,
        graph: &mut ActionGraph,
    ) -> Result<(), LowerError> {
        let Instruction::Copy {
            sources,
            heredocs,
            dest,
            from,
            chown,
            chmod,
            parents,
            exclude,
            link,
            ..
        } = &site.located.instruction
        else {
            return Err(site.error(Problem::internal("not a COPY")));
        };
        let source = match from {
            Some(name) => self.copy_source(stage, site, name, state.config, graph)?,
            None => CopySource::Context,
        };
        let words = CopyWords {
            keyword: "COPY",
            sources,
            dest,
            chown: chown.as_deref(),
            chmod: chmod.as_deref(),
            parents: *parents,
            link: *link,
            exclude,
            heredocs,
        };
        let request = self
            .copy_request(&words, state.config)
            .map_err(|p| site.error(p))?;
        let layers = self
            .copy_layers(&request, &source, site, state, graph)
            .map_err(|p| site.error(p))?;
        if matches!(source, CopySource::Image(_)) {
            *state.fs_known = false;
        }
        for (layer, created_by) in layers {
            state.add_layer(layer, created_by);
        }
        Ok(())
    }

    /// Lowers the `ADD` at `site`: a `COPY` from the build context that unpacks local tar
    /// archives; it cannot download.
    pub(crate) fn lower_add(
        &mut self,
        site: Site<'_>,
        state: &mut StageState<'_>,
        graph: &mut ActionGraph,
    ) -> Result<(), LowerError> {
        let Instruction::Add {
            sources,
            heredocs,
            dest,
            chown,
            chmod,
            exclude,
            link,
            ..
        } = &site.located.instruction
        else {
            return Err(site.error(Problem::internal("not an ADD")));
        };
        if let Some(url) = sources
            .iter()
            .find(|s| s.contains("://") || s.starts_with("git@"))
        {
            return Err(site.error(Problem::user(format!(
                "`{url}`: builds are hermetic, so ADD cannot download; fetch it beforehand and ADD the file"
            )).at_argument(url)));
        }
        let words = CopyWords {
            keyword: "ADD",
            sources,
            dest,
            chown: chown.as_deref(),
            chmod: chmod.as_deref(),
            parents: false,
            link: *link,
            exclude,
            heredocs,
        };
        let request = self
            .copy_request(&words, state.config)
            .map_err(|p| site.error(p))?;
        let layers = self
            .copy_layers(&request, &CopySource::Context, site, state, graph)
            .map_err(|p| site.error(p))?;
        for (layer, created_by) in layers {
            state.add_layer(layer, created_by);
        }
        Ok(())
    }

    /// What `COPY --from=<name>` in `stage` copies from: an earlier stage (lowered now) or a
    /// local image.
    fn copy_source(
        &mut self,
        stage: usize,
        site: Site<'_>,
        name: &str,
        config: &StageConfig,
        graph: &mut ActionGraph,
    ) -> Result<CopySource, LowerError> {
        let name = config
            .expand(&self.lex, name)
            .map_err(|message| site.error(Problem::user(message).at_flag("from")))?;
        if let Some(earlier) = self.stage_named(&name, stage) {
            let lowered = self.lower_stage(earlier, graph)?;
            return Ok(if lowered.fs_known {
                CopySource::Stage(lowered.fs)
            } else {
                // Its files are known once it is built: copy at execution.
                CopySource::Image(Input::Output(lowered.image))
            });
        }
        match self
            .image_named(&name, graph)
            .map_err(|problem| site.error(problem.at_flag("from")))?
        {
            Some(image) => Ok(CopySource::Image(image)),
            None => Err(site.error(
                Problem::user(format!(
                    "--from={name}: no earlier stage or image has that name or index"
                ))
                .at_flag("from"),
            )),
        }
    }

    /// Expands the words of a `COPY` or `ADD` with the stage's variables.
    fn copy_request<'w>(
        &self,
        words: &CopyWords<'w>,
        config: &StageConfig,
    ) -> Result<CopyRequest<'w>, Problem> {
        let mut sources = Vec::new();
        for source in words.sources {
            sources.push((source.as_str(), config.expand_argument(&self.lex, source)?));
        }
        let dest = config.expand_argument(&self.lex, words.dest)?;
        let (owner, chown_name) = match words.chown {
            Some(chown) => {
                let expanded = config
                    .expand(&self.lex, chown)
                    .map_err(|message| Problem::user(message).at_flag("chown"))?;
                match parse_chown(&expanded) {
                    Some(owner) => (owner, None),
                    None if expanded.is_empty() || expanded.split(':').count() > 2 => {
                        return Err(Problem::user(format!(
                            "--chown={expanded}: expected USER[:GROUP], by name or number"
                        ))
                        .at_flag("chown"));
                    }
                    None => ((0, 0), Some(expanded)),
                }
            }
            None => ((0, 0), None),
        };
        let chmod = match words.chmod {
            Some(text) => Some((
                text,
                parse_chmod(text).map_err(|message| Problem::user(message).at_flag("chmod"))?,
            )),
            None => None,
        };
        Ok(CopyRequest {
            keyword: words.keyword,
            sources,
            dest,
            chown: words.chown,
            owner,
            chown_name,
            chmod,
            parents: words.parents,
            link: words.link,
            exclude: words.exclude,
            heredocs: words.heredocs,
        })
    }

    /// The layers of one `COPY`/`ADD` at `site`, with their history `created_by`: one, or two
    /// when heredocs join a `--from` an image whose files are known only once built (its
    /// files, then the heredocs). Updates the stage's filesystem.
    fn copy_layers(
        &self,
        request: &CopyRequest<'_>,
        source: &CopySource,
        site: Site<'_>,
        state: &mut StageState<'_>,
        graph: &mut ActionGraph,
    ) -> Result<Vec<(ActionId, String)>, Problem> {
        let build = self.build;
        let line = site.located.start_line;
        let origin = site.location();
        let (dest, written_as_dir) = destination_path(&state.config.workdir, &request.dest);
        let landing = if request.link {
            LandingOf::Known(Landing {
                path: dest.clone(),
                ..Landing::default()
            })
        } else {
            // A `--chown` name is looked up in the image below, so it is probed.
            let chown = (request.chown_name.as_deref(), true);
            self.landing(state, site, graph, &format!("/{dest}"), chown)?
        };
        let mut layers = Vec::new();
        let mut sources: Vec<&str> = request.sources.iter().map(|(_, s)| s.as_str()).collect();
        if let CopySource::Image(image) = source {
            let copy = self.copy_from_image(request, image, &sources, state.config, &landing);
            layers.push(self.add_copy_from_image(copy, request, &sources, site, graph));
            if request.heredocs.is_empty() {
                return Ok(layers);
            }
            // The heredocs go in a layer of their own, after the stage's files.
            sources.clear();
        }
        let stage_fs = match source {
            CopySource::Stage(fs) => Some(fs),
            CopySource::Context | CopySource::Image(_) => None,
        };
        let mut planner = entries::Planner {
            build,
            lex: &self.lex,
            config: state.config,
            request,
            dest: match &landing {
                LandingOf::Known(landing) => landing.planning_dest(written_as_dir),
                LandingOf::Probed(_) => request.dest.clone(),
            },
            below_unknown: matches!(landing, LandingOf::Probed(_)),
            several_into_unknown: false,
            stage_fs,
            line,
            origin: &origin,
        };
        let (entries, heredoc_names) = planner.entries(&sources, state.fs, graph)?;
        let single = sources
            .first()
            .copied()
            .or(heredoc_names.first().map(String::as_str))
            .filter(|_| !written_as_dir && !planner.several_into_unknown);
        let several = planner.several_into_unknown;
        if matches!(landing, LandingOf::Probed(_)) {
            // Placed (and owned, for a `--chown` name) once built: the stage's files are no
            // longer all known at analysis.
            *state.fs_known = false;
        }
        let (entries, below) = placed(landing, entries, dest, single, several, request);
        let suffix = if layers.is_empty() { "" } else { "-heredocs" };
        let layer = graph.add(Action {
            owner: build.owner.clone(),
            output_name: format!("{}.layers/line-{line}{suffix}.tar.gz", build.output_name),
            origin: Some(origin.clone()),
            kind: ActionKind::PackLayer(PackLayer {
                entries,
                mtime: build.source_date_epoch,
                below,
            }),
        });
        let heredoc_names: Vec<String> = heredoc_names
            .iter()
            .map(|name| format!("<<{name}"))
            .collect();
        let shown: Vec<&str> = sources
            .iter()
            .copied()
            .chain(heredoc_names.iter().map(String::as_str))
            .collect();
        layers.push((layer, history_text(request, &shown)));
        Ok(layers)
    }

    /// A `COPY --from` an image whose files are known only once built, copying `sources` to
    /// where the destination lands.
    fn copy_from_image(
        &self,
        request: &CopyRequest<'_>,
        image: &Input,
        sources: &[&str],
        config: &StageConfig,
        landing: &LandingOf,
    ) -> CopyFromImage {
        CopyFromImage {
            image: image.clone(),
            sources: sources.iter().map(|s| (*s).to_owned()).collect(),
            dest: request.dest.clone(),
            workdir: config.workdir.clone(),
            excludes: request.exclude.to_vec(),
            parents: request.parents,
            chown: request
                .chown
                .filter(|_| request.chown_name.is_none())
                .map(|_| request.owner),
            chown_from_landing: request.chown_name.is_some(),
            chmod: request.chmod.map(|(_, bits)| bits),
            mtime: self.build.source_date_epoch,
            landing: Some(landing.clone()),
        }
    }

    /// The executor action of `copy`, with its history text.
    fn add_copy_from_image(
        &self,
        copy: CopyFromImage,
        request: &CopyRequest<'_>,
        sources: &[&str],
        site: Site<'_>,
        graph: &mut ActionGraph,
    ) -> (ActionId, String) {
        let build = self.build;
        let line = site.located.start_line;
        let layer = graph.add(Action {
            owner: build.owner.clone(),
            output_name: format!("{}.layers/line-{line}.tar.gz", build.output_name),
            origin: Some(site.location()),
            kind: ActionKind::CopyFromImage(Box::new(copy)),
        });
        (layer, history_text(request, sources))
    }
}

/// Where a copy's `entries`, planned at `dest`, go: placed now when the landing is known (the
/// planning already went into an existing directory), else once the probe has answered, a
/// `single` source (the destination not written as a directory) going into it by its name if
/// it is one, `several` sources only if it is one.
fn placed(
    landing: LandingOf,
    entries: Vec<LayerEntry>,
    dest: String,
    single: Option<&str>,
    several: bool,
    request: &CopyRequest<'_>,
) -> (Vec<LayerEntry>, Option<Below>) {
    let owner = request.owner;
    match landing {
        LandingOf::Known(landing) => (landing.place(entries, &landing.path, None, owner), None),
        LandingOf::Probed(landing) => {
            let file_name = single.and_then(|single| file_name(single, &entries, &dest));
            let named = request.chown_name.is_some();
            let below = Below {
                landing,
                dest,
                file_name,
                must_be_dir: several,
                owner: (!named).then_some(owner),
                empty_if_dir: false,
                chown_all: named,
            };
            (entries, Some(below))
        }
    }
}

/// The name a single source copied to `dest` takes inside it if `dest` turns out to be a
/// directory: the name written, or for a wildcard the name of the file it matched.
fn file_name(single: &str, entries: &[LayerEntry], dest: &str) -> Option<String> {
    let matched = match entries.iter().find(|e| e.path == dest).map(|e| &e.content) {
        Some(EntryContent::File {
            input: Input::Source(path),
            ..
        }) if single.contains(['*', '?', '[']) => path.as_str(),
        _ => single,
    };
    let name = std::path::Path::new(matched).file_name()?;
    Some(name.to_string_lossy().into_owned())
}

/// The history `created_by` of a `COPY`/`ADD` layer, as BuildKit's `dispatchCopy` writes it:
/// the sources as expanded (heredocs as `<<NAME`) and the destination, without flags (Docker
/// 20.10.24 writes `COPY --from=src --chown=3:4 /out /o` as `COPY /out /o # buildkit`).
fn history_text(request: &CopyRequest<'_>, shown: &[&str]) -> String {
    crate::history::with_layer_marker(format!(
        "{} {} {}",
        request.keyword,
        shown.join(" "),
        request.dest
    ))
}

/// `--chown=UID[:GID]` as numbers (a user without a group is its own group, as in BuildKit);
/// `None` when it names a user or group.
fn parse_chown(text: &str) -> Option<(u32, u32)> {
    let (user, group) = text.split_once(':').unwrap_or((text, text));
    Some((user.parse().ok()?, group.parse().ok()?))
}

fn parse_chmod(text: &str) -> Result<u32, String> {
    u32::from_str_radix(text, 8)
        .ok()
        .filter(|bits| *bits <= 0o7777)
        .ok_or_else(|| format!("--chmod={text}: expected octal permission bits such as 755"))
}
