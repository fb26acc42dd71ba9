//! `bld build [-f FILE] [-t NAME:TAG]... [--target STAGE] [--build-arg K=V]... CONTEXT`: the
//! docker-compatible build of a Dockerfile, no BUILD file needed.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bld_core::{ImageReference, Label};
use bld_dockerfile::context::{ContextTree, DockerIgnore};
use bld_dockerfile_lower::{DirectFiles, DockerfileBuild, lower_dockerfile};
use bld_exec::ExecContext;
use bld_graph::ActionGraph;
use bld_store::{FileDigests, Store};

use super::output::{self, Output};
use super::registry_images::{Resolver, StoreImages};
use super::stdin::{STDIN, StdinContext, read_stdin};
use super::{BuildArgs, Phases, result_files, source_date_epoch};
use crate::Failure;
use crate::progress::{ProgressMode, execute_with_log};

fn user(message: String) -> Failure {
    Failure::user(message)
}

/// The build context, when the command line asks for a Dockerfile build: any of `-f`, `-t`,
/// `--target`, `--build-arg`, `--output` given, or one argument that names a directory as a
/// path does and not as a target pattern does ([`names_a_context`]).
pub(super) fn context_argument(args: &BuildArgs) -> Result<Option<PathBuf>, Failure> {
    let docker_flags = args.file.is_some()
        || !args.tag.is_empty()
        || args.target.is_some()
        || !args.build_arg.is_empty()
        || args.output.is_some();
    let [single] = args.patterns.as_slice() else {
        if docker_flags {
            return Err(user(format!(
                "a Dockerfile build takes exactly one build context directory, got {}",
                args.patterns.len()
            )));
        }
        return Ok(None);
    };
    if single == STDIN {
        return Ok(Some(PathBuf::from(STDIN)));
    }
    let looks_like_label =
        single.starts_with("//") || single.starts_with(':') || single.starts_with('@');
    if looks_like_label {
        if docker_flags {
            return Err(user(format!("build context `{single}` is not a directory")));
        }
        return Ok(None);
    }
    if !docker_flags && !names_a_context(single) {
        return Ok(None);
    }
    let dir = Path::new(single);
    if fs::symlink_metadata(dir).is_err() {
        return Err(user(format!("build context `{single}` does not exist")));
    }
    if !dir.is_dir() {
        return Err(user(format!("build context `{single}` is not a directory")));
    }
    if args.file.is_none() && !dir.join("Dockerfile").is_file() {
        return Err(user(format!(
            "no `Dockerfile` in build context `{single}`{}",
            package_hint(dir)
        )));
    }
    Ok(Some(dir.to_owned()))
}

/// For a directory that is a package of the workspace bld runs in: how to build its targets
/// instead.
fn package_hint(dir: &Path) -> String {
    if !dir.join(bld_core::BUILD_FILE).is_file() {
        return String::new();
    }
    let workspace_of = |dir: &Path| bld_core::Workspace::discover(dir).ok();
    let cwd = std::env::current_dir().ok();
    match (workspace_of(dir), cwd.as_deref().and_then(workspace_of)) {
        (Some(workspace), Some(current)) if workspace.root() == current.root() => format!(
            " (to build its package's targets: `bld build //{}:all`)",
            workspace.package_of(dir)
        ),
        _ => String::new(),
    }
}

/// Whether the one argument of `bld build` (not a label) names a build context rather than a
/// target pattern, as `docker build ARG` would take it:
///
/// - a path no pattern can be (`.`, `..`, `/abs`, `./x`, `x/`): always a context;
/// - a pattern's own syntax (`x:y`, `x/...`): never;
/// - otherwise (`dir`, `a/b`), inside a workspace, a pattern where it names a package (a
///   directory with a `BUILD.star`) or nothing at all, and a context where it names a
///   directory or file that is no package; outside a workspace always a context.
fn names_a_context(argument: &str) -> bool {
    let path_only = argument.starts_with('/')
        || argument
            .split('/')
            .any(|component| matches!(component, "" | "." | ".."));
    if path_only {
        return true;
    }
    if argument.contains(':') || argument.ends_with("...") {
        return false;
    }
    let in_workspace =
        || std::env::current_dir().is_ok_and(|cwd| bld_core::Workspace::discover(&cwd).is_ok());
    let path = Path::new(argument);
    if fs::symlink_metadata(path).is_ok() {
        return !(path.join(bld_core::BUILD_FILE).is_file() && in_workspace());
    }
    !in_workspace()
}

fn build_args(given: &[String]) -> Vec<(String, String)> {
    given
        .iter()
        .filter_map(|arg| match arg.split_once('=') {
            Some((k, v)) => Some((k.to_owned(), v.to_owned())),
            None => std::env::var(arg).ok().map(|v| (arg.clone(), v)),
        })
        .collect()
}

/// The Dockerfile of a build and its context, as read from disk.
struct DockerfileSource {
    /// The context directory, canonical.
    context: PathBuf,
    /// How messages name the Dockerfile (`Dockerfile`, or `-f`'s path as given).
    display: String,
    /// Its text.
    text: String,
    /// The context after `.dockerignore`.
    tree: ContextTree,
    /// The Dockerfile's path, when it is a file (not stdin).
    path: Option<PathBuf>,
}

/// Reads the Dockerfile (`-f`, else `Dockerfile` in the context; stdin for `-f -` or when
/// stdin held it) and the context.
fn read_source(
    args: &BuildArgs,
    context: &Path,
    stdin: Option<&StdinContext>,
) -> Result<DockerfileSource, Failure> {
    let context = context
        .canonicalize()
        .map_err(|e| user(format!("build context `{}`: {e}", context.display())))?;
    let (display, text, path) = dockerfile_text(args, &context, stdin)?;
    let ignore_text = match fs::read_to_string(context.join(".dockerignore")) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(user(format!("cannot read `.dockerignore`: {e}"))),
    };
    let ignore =
        DockerIgnore::parse(&ignore_text).map_err(|e| user(format!(".dockerignore: {e}")))?;
    // bld's own lock file is not the build's input: a build that writes it must not see it.
    let ignore = match path.as_deref().and_then(|p| lock_in_context(p, &context)) {
        Some(lock) => DockerIgnore::parse(&format!("{ignore_text}\n/{lock}\n"))
            .map_err(|e| user(format!(".dockerignore: {e}")))?,
        None => ignore,
    };
    let tree = ContextTree::from_dir(&context, &ignore).map_err(|e| {
        user(format!(
            "cannot read the build context `{}`: {e}",
            context.display()
        ))
    })?;
    Ok(DockerfileSource {
        context,
        display,
        text,
        tree,
        path,
    })
}

/// The path in `context` of the lock file of the Dockerfile at `dockerfile`, when it is in
/// the context.
fn lock_in_context(dockerfile: &Path, context: &Path) -> Option<String> {
    let parent = dockerfile.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = parent.unwrap_or(Path::new(".")).canonicalize().ok()?;
    let name = format!("{}.lock", dockerfile.file_name()?.to_str()?);
    let inside = dir.strip_prefix(context).ok()?.join(name);
    let inside = inside.to_str()?;
    // A name with a pattern's special characters is not written as a pattern.
    (!inside.contains(['*', '?', '[', '\\', '!'])).then(|| inside.to_owned())
}

/// The Dockerfile's name in messages and its text: from stdin (`-f -`, or stdin holding it
/// instead of a context), from `-f` (a path inside the context when that came from stdin), or
/// `Dockerfile` in the context; and its path, when it is a file of the user's (not from
/// stdin, and not in a context from stdin).
fn dockerfile_text(
    args: &BuildArgs,
    context: &Path,
    stdin: Option<&StdinContext>,
) -> Result<(String, String, Option<PathBuf>), Failure> {
    if let Some(text) = stdin.and_then(|s| s.dockerfile.clone()) {
        return Ok(("Dockerfile".to_owned(), text, None));
    }
    if args.file.as_deref() == Some(Path::new(STDIN)) {
        let bytes = read_stdin("Dockerfile")?;
        let text = String::from_utf8(bytes)
            .map_err(|_| user("the Dockerfile on stdin is not UTF-8 text".to_owned()))?;
        return Ok(("Dockerfile".to_owned(), text, None));
    }
    let display = args
        .file
        .as_ref()
        .map_or_else(|| "Dockerfile".to_owned(), |f| f.display().to_string());
    let (dockerfile, named) = match (&args.file, stdin) {
        (Some(file), None) => (file.clone(), format!("`{}`", file.display())),
        (None, None) => {
            let path = context.join("Dockerfile");
            let named = format!("`{}`", path.display());
            (path, named)
        }
        (file, Some(_)) => {
            let inside = file.clone().unwrap_or_else(|| PathBuf::from("Dockerfile"));
            let named = format!("`{}` in the context from stdin", inside.display());
            (context.join(inside), named)
        }
    };
    let text = fs::read_to_string(&dockerfile)
        .map_err(|e| user(format!("cannot read the Dockerfile {named}: {e}")))?;
    Ok((display, text, stdin.is_none().then_some(dockerfile)))
}

/// What a Dockerfile build is, once its context is read and it is lowered.
struct Lowered {
    /// A context from stdin, unpacked in a directory that lives as long as this.
    _stdin: Option<StdinContext>,
    context: PathBuf,
    tags: Vec<ImageReference>,
    output: Option<Output>,
    ignored_stages: Vec<std::ops::Range<usize>>,
    graph: ActionGraph,
    image: bld_graph::ActionId,
}

/// Reads the Dockerfile and its context and lowers them.
fn read_and_lower(
    args: &BuildArgs,
    context: &Path,
    store: &Arc<Store>,
    phases: &mut Phases,
) -> Result<Lowered, Failure> {
    let stdin = (context == Path::new(STDIN))
        .then(|| StdinContext::read(args, store))
        .transpose()?;
    let context = stdin.as_ref().map_or(context, StdinContext::dir);
    let source = read_source(args, context, stdin.as_ref())?;
    let context = source.context.clone();
    let tags = args
        .tag
        .iter()
        .map(|t| ImageReference::parse_tag(t))
        .collect::<Result<Vec<_>, _>>()?;
    if args.push && tags.is_empty() {
        return Err(user(
            "tag is needed when pushing to registry: give `-t NAME[:TAG]`".to_owned(),
        ));
    }
    let output = args.output.as_deref().map(Output::parse).transpose()?;
    phases.mark("context");

    let ignored_stages = stage_lines(&source, &args.no_cache_filter)?;
    let (graph, image) = lower(args, source, store)?;
    phases.mark("lowering");
    Ok(Lowered {
        _stdin: stdin,
        context,
        tags,
        output,
        ignored_stages,
        graph,
        image,
    })
}

/// Builds the Dockerfile in `context`, tags the image and prints the summary line (with `-q`,
/// only the image ID).
pub(super) fn run(args: &BuildArgs, context: &Path, store_root: &Path) -> Result<(), Failure> {
    let started = Instant::now();
    let mut phases = Phases::new(args.timings, args.profile.as_deref());
    let store = Arc::new(Store::open(store_root)?);
    let (lowered, file_digests) = super::with_file_digests(&store, || {
        read_and_lower(args, context, &store, &mut phases)
    });
    // Held to the end: a context from stdin lives in a directory that goes with it.
    let lowered = lowered?;
    let (graph, image, tags) = (&lowered.graph, lowered.image, &lowered.tags);
    let (ignored_stages, output) = (&lowered.ignored_stages, &lowered.output);
    let ignore_cache = |action: &bld_graph::Action| {
        args.no_cache
            || action
                .origin
                .as_ref()
                .is_some_and(|at| ignored_stages.iter().any(|lines| lines.contains(&at.line)))
    };
    let settings = super::BuildSettings::from_args(args, &store)?;
    let remotes = super::cache::Remotes::open(&settings);
    let exec = ExecContext {
        workspace_root: lowered.context.clone(),
        store: &store,
        file_digests: &file_digests,
        secrets: settings.secrets.files.clone(),
        ssh_agents: settings.ssh_agents.clone(),
        ignore_cache: &ignore_cache,
        remote: remotes.cache(),
        keep_going: settings.keep_going,
    };
    let mode = args.progress_mode();
    let result = execute_with_log(graph, &[image], &exec, mode, phases.profile.as_ref());
    remotes.finish_build(&store);
    file_digests.save(&store)?;
    let report = result?;
    phases.mark("execution");
    let (manifest, config) =
        finish_image(&store, graph, &report, image, tags, &settings, &remotes)?;
    keep_image(&store, &file_digests, &manifest, tags, output.as_ref())?;
    result_files::write(args, &store, &manifest, &config, tags)?;
    if args.push {
        push_tags(&store, tags, mode == ProgressMode::Quiet)?;
    }
    phases.mark("outputs");
    if mode == ProgressMode::Quiet {
        println!("{config}");
        return Ok(());
    }
    let counts = super::action_counts(
        report.ran,
        report.cached,
        remotes.cache().is_some().then_some(report.remote_cached),
    );
    print_summary(tags, &manifest, &config, output.as_ref(), started, &counts);
    Ok(())
}

/// After a Dockerfile build's actions: its cache exported, the build recorded for `bld why`;
/// the image's manifest and config (with `--cache-to type=inline`, of the image that holds its
/// cache).
fn finish_image(
    store: &Store,
    graph: &bld_graph::ActionGraph,
    report: &bld_exec::ExecReport,
    image: bld_graph::ActionId,
    tags: &[ImageReference],
    settings: &super::BuildSettings,
    remotes: &super::cache::Remotes,
) -> Result<(bld_core::Digest, bld_core::Digest), Failure> {
    super::cache::export(
        store,
        graph,
        report,
        &[image],
        &settings.cache_to,
        remotes.cache(),
    );
    crate::why::after_dockerfile_build(
        store,
        graph,
        report,
        image,
        tags,
        settings.explain.as_ref(),
    )?;
    super::cache::with_inline_cache(store, graph, report, image, &settings.cache_to)
}

/// `Built app:1 sha256:… (image ID …) in 1.20s; 9 actions: …`, on stderr when an archive has
/// stdout.
fn print_summary(
    tags: &[ImageReference],
    manifest: &bld_core::Digest,
    config: &bld_core::Digest,
    output: Option<&Output>,
    started: Instant,
    counts: &str,
) {
    let named = if tags.is_empty() {
        "image".to_owned()
    } else {
        tags.iter()
            .map(ImageReference::familiar)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let written = output.map(Output::summary).unwrap_or_default();
    let summary = format!(
        "Built {named} {manifest} (image ID {}){written} in {:.2}s; {counts}",
        &config.hex()[..12],
        started.elapsed().as_secs_f64(),
    );
    // An archive on stdout leaves stdout to it.
    if output.is_some_and(Output::to_stdout) {
        eprintln!("{summary}");
    } else {
        println!("{summary}");
    }
}

/// `--push`: each `-t` name to its registry, as `docker push` prints it unless `quiet`.
fn push_tags(store: &Store, tags: &[ImageReference], quiet: bool) -> Result<(), Failure> {
    for tag in tags {
        if !quiet {
            println!("The push refers to repository [{}]", tag.name);
        }
        crate::image::push_one(store, tag, quiet)?;
    }
    Ok(())
}

/// Lowers the Dockerfile into a graph; returns it and the target's image action.
fn lower(
    args: &BuildArgs,
    source: DockerfileSource,
    store: &Arc<Store>,
) -> Result<(ActionGraph, bld_graph::ActionId), Failure> {
    let resolver = Resolver::new(store, source.path.clone(), args.pull, args.locked)?;
    let resolver = Arc::new(Mutex::new(resolver));
    let build = DockerfileBuild {
        text: source.text,
        display: source.display,
        context: source.tree,
        context_dir: source.context,
        files: Box::new(DirectFiles),
        context_prefix: String::new(),
        target: args.target.clone(),
        build_args: build_args(&args.build_arg),
        named_images: Default::default(),
        local_images: Box::new(StoreImages(Arc::clone(&resolver))),
        source_date_epoch: source_date_epoch()?,
        host_network: super::host_network(&args.network)?,
        owner: Label::new("", "Dockerfile").expect("invariant: a valid label"),
        output_name: "image".to_owned(),
        labels: labels(&args.label),
        extra_hosts: super::extra_hosts(&args.add_host)?,
    };
    let mut graph = ActionGraph::new();
    let image = lower_dockerfile(&build, &mut graph)?;
    drop(build);
    resolver
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .write_lock()?;
    Ok((graph, image))
}

/// `--label K=V`, as Docker reads them: `K` alone is `K` with an empty value.
fn labels(given: &[String]) -> Vec<(String, String)> {
    given
        .iter()
        .map(|text| match text.split_once('=') {
            Some((key, value)) => (key.to_owned(), value.to_owned()),
            None => (text.clone(), String::new()),
        })
        .collect()
}

/// The lines of the stages `--no-cache-filter` names (by name, in any case, as BuildKit
/// matches them): an action whose instruction is on one of them ignores the cache. A name
/// that is no stage's is ignored, as BuildKit ignores it.
fn stage_lines(
    source: &DockerfileSource,
    names: &[String],
) -> Result<Vec<std::ops::Range<usize>>, Failure> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let parse_error =
        |e| bld_dockerfile_lower::LowerError::parse(&source.display, &source.text, &e);
    let parsed = bld_dockerfile::parse(&source.text).map_err(parse_error)?;
    let stages = bld_dockerfile::stages(&parsed).map_err(parse_error)?;
    let ends = stages
        .iter()
        .skip(1)
        .map(|stage| stage.start_line)
        .chain([usize::MAX]);
    Ok(stages
        .iter()
        .zip(ends)
        .filter(|(stage, _)| {
            stage
                .name
                .as_ref()
                .is_some_and(|name| names.iter().any(|n| n.eq_ignore_ascii_case(name)))
        })
        .map(|(stage, end)| stage.start_line..end)
        .collect())
}

/// Records the built image in the store (untagged it is kept as `<none>` until pruned, as
/// Docker keeps it), tags it, and writes what `-o` asks for.
fn keep_image(
    store: &Store,
    file_digests: &FileDigests,
    manifest: &bld_core::Digest,
    tags: &[ImageReference],
    output: Option<&Output>,
) -> Result<(), Failure> {
    {
        let _lock = store.lock_index()?;
        store.add_image(manifest)?;
        for tag in tags {
            store.put_tag(&tag.to_string(), manifest)?;
        }
    }
    if let Some(output) = output {
        output::write_output(store, file_digests, manifest, tags, output)?;
    }
    Ok(())
}
