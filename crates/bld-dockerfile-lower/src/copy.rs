//! `COPY` and `ADD` (BuildKit's `convert_copy.go`): Docker's rules for what is copied where,
//! from the build context, an earlier stage or an image, lowered to one layer action each.
//!
//! Without `RUN`, a stage's filesystem is exactly what its `COPY`s put there, so it is known at
//! analysis: every stage keeps a [`StageFs`], and `COPY --from=<stage>` plans over it and reuses
//! the same inputs. Once the stage has run a step, or for an image target, `COPY --from` is a
//! [`CopyFromImage`] action the executor plans over the built image.

mod entries;

use bld_dockerfile::{Heredoc, Instruction};
use bld_graph::{Action, ActionGraph, ActionId, ActionKind, CopyFromImage, Input, PackLayer};

use crate::error::{LowerError, Problem, Site};
use crate::metadata::StageConfig;
use crate::stages::{Lowering, StageState};

pub(crate) use entries::StageFs;

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
    /// `--chown` as written, and the owner it gives (`0:0` without it).
    pub(crate) chown: Option<&'a str>,
    pub(crate) owner: (u32, u32),
    /// `--chmod` as written, and the bits it gives.
    pub(crate) chmod: Option<(&'a str, u32)>,
    /// `--parents`.
    pub(crate) parents: bool,
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
                    "--from={name}: no earlier stage or local image has that name or index, and bld cannot pull images yet"
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
        let owner = match words.chown {
            Some(chown) => {
                let expanded = config
                    .expand(&self.lex, chown)
                    .map_err(|message| Problem::user(message).at_flag("chown"))?;
                parse_chown(&expanded).map_err(|message| Problem::user(message).at_flag("chown"))?
            }
            None => (0, 0),
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
            chmod,
            parents: words.parents,
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
        let mut layers = Vec::new();
        let mut sources: Vec<&str> = request.sources.iter().map(|(_, s)| s.as_str()).collect();
        if let CopySource::Image(image) = source {
            layers.push(self.copy_from_image(request, image, &sources, site, state.config, graph));
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
            stage_fs,
            line,
            origin: &origin,
        };
        let (entries, heredoc_names) = planner.entries(&sources, state.fs, graph)?;
        let suffix = if layers.is_empty() { "" } else { "-heredocs" };
        let layer = graph.add(Action {
            owner: build.owner.clone(),
            output_name: format!("{}.layers/line-{line}{suffix}.tar.gz", build.output_name),
            origin: Some(origin.clone()),
            kind: ActionKind::PackLayer(PackLayer {
                entries,
                mtime: build.source_date_epoch,
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

    /// A `COPY --from` an image whose files are known only once built: an executor action.
    fn copy_from_image(
        &self,
        request: &CopyRequest<'_>,
        image: &Input,
        sources: &[&str],
        site: Site<'_>,
        config: &StageConfig,
        graph: &mut ActionGraph,
    ) -> (ActionId, String) {
        let build = self.build;
        let line = site.located.start_line;
        let layer = graph.add(Action {
            owner: build.owner.clone(),
            output_name: format!("{}.layers/line-{line}.tar.gz", build.output_name),
            origin: Some(site.location()),
            kind: ActionKind::CopyFromImage(Box::new(CopyFromImage {
                image: image.clone(),
                sources: sources.iter().map(|s| (*s).to_owned()).collect(),
                dest: request.dest.clone(),
                workdir: config.workdir.clone(),
                excludes: request.exclude.to_vec(),
                parents: request.parents,
                chown: request.chown.map(|_| request.owner),
                chmod: request.chmod.map(|(_, bits)| bits),
                mtime: build.source_date_epoch,
            })),
        });
        (layer, history_text(request, sources))
    }
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
