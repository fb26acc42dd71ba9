//! `bld build PATTERN...`: analyse, execute, and write each target's outputs under `bld-out/`.
//! `bld build [-f FILE] [-t NAME:TAG]... CONTEXT`: build a Dockerfile, as `docker build` does
//! (see `build/dockerfile.rs`).

mod cache;
mod dockerfile;
mod output;
mod phases;
mod reapi;
mod registry_images;
mod result_files;
mod secrets;
mod settings;
mod stdin;
pub(crate) mod watched;
mod workspace_outputs;
mod workspace_pulls;

use std::fs;
use std::path::Path;
use std::time::Instant;

use bld_core::Digest;
use bld_exec::ExecContext;
use bld_starlark::{Analysis, AnalysisOptions, analyze, encode_analysis};
use bld_store::{FileDigests, Store};
use clap::Args;

use crate::progress::{ProgressMode, execute_with_log};
use crate::workspace_args::{Patterns, load, parse_patterns};
use crate::{Classified, Failure, bail_internal};
pub(crate) use phases::Phases;
pub(crate) use settings::{BuildSettings, extra_hosts, host_network, source_date_epoch};

/// Arguments of `bld build`.
#[derive(Args)]
pub struct BuildArgs {
    /// Labels or patterns (`//examples/hello:image`, `:image`, `//examples/...`), or, as with
    /// `docker build`, one build context directory (`-`: a tar of it, or a lone Dockerfile, on
    /// stdin).
    #[arg(required = true, value_name = "PATTERN|CONTEXT")]
    patterns: Vec<String>,
    /// The Dockerfile (default: `CONTEXT/Dockerfile`; `-`: stdin); builds CONTEXT as
    /// `docker build` does.
    #[arg(long, short = 'f', value_name = "FILE")]
    file: Option<std::path::PathBuf>,
    /// Name the image `NAME[:TAG]` in the local image store (repeatable).
    #[arg(long, short = 't', value_name = "NAME:TAG")]
    tag: Vec<String>,
    /// The Dockerfile stage to build (default: the last).
    #[arg(long, value_name = "STAGE")]
    target: Option<String>,
    /// A Dockerfile `ARG` value, `KEY=VALUE` (or `KEY` to take it from the environment).
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    build_arg: Vec<String>,
    /// Also write the image: `DIR` an OCI image layout (buildx writes the filesystem there),
    /// `type=oci,dest=FILE` an OCI archive, `type=docker,dest=FILE` a `docker load`able one,
    /// `type=tar,dest=FILE` the image's filesystem as a tar, `type=local,dest=DIR` it in DIR;
    /// `dest=-` (or `-o -`, a tar) writes to stdout.
    #[arg(long, short = 'o', value_name = "OUTPUT")]
    output: Option<String>,
    /// As `docker build -q`: no build log; a Dockerfile build prints nothing but the image ID
    /// (`sha256:…`) on stdout, a workspace build nothing but errors and the summary line.
    #[arg(long, short)]
    quiet: bool,
    /// How the build log is shown: `auto` (a status line when stderr is a terminal), `plain`
    /// (never a status line), `tty` (the status line), `quiet` (as `-q`).
    #[arg(
        long,
        value_enum,
        value_name = "MODE",
        default_value = "auto",
        hide_possible_values = true
    )]
    progress: ProgressMode,
    /// Run every action again, ignoring the action cache (results are still recorded).
    #[arg(long)]
    no_cache: bool,
    /// Write the build as a Chrome trace (its phases, each action on the thread that ran it,
    /// hits and runs told apart), as Bazel's `--profile`: open it in Perfetto or
    /// chrome://tracing.
    #[arg(long, value_name = "FILE.json")]
    profile: Option<std::path::PathBuf>,
    /// Say why each action that ran did not hit the cache (what differs from its last run),
    /// on stderr or into FILE (`--explain=FILE`); `bld why` tells the same later.
    #[arg(long, value_name = "FILE", num_args = 0..=1, require_equals = true)]
    explain: Option<Option<std::path::PathBuf>>,
    /// Build, then build again whenever a file the build read changes (`bld watch`).
    #[arg(long)]
    pub(crate) watch: bool,
    /// Go on past a failure: build everything that does not depend on one, and report every
    /// failure.
    #[arg(long, short = 'k')]
    keep_going: bool,
    /// How many actions run at once, RUN steps and compression included (default: one per
    /// CPU).
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// Resolve every registry image's tag again (and update the lock file), as `docker build
    /// --pull` always asks the registry.
    #[arg(long)]
    pull: bool,
    /// Fail if the lock file (`Dockerfile.lock`; a workspace's `bld.lock`) would change: a
    /// tag it lacks, or `--pull` finding one moved.
    #[arg(long)]
    locked: bool,
    /// Push each `-t` name to its registry once the image is built.
    #[arg(long)]
    push: bool,
    /// Export the build's cache: `type=registry,ref=REG/REPO:TAG`, `type=local,dest=DIR` or
    /// `type=inline` (in the image's config), with `mode=min` (every step's record, the blobs
    /// of the images only; the default) or `mode=max` (every step's blobs too).
    #[arg(long = "cache-to", value_name = "SPEC")]
    cache_to: Vec<String>,
    /// Use a cache another build exported: `type=registry,ref=…` (or just the reference) or
    /// `type=local,src=DIR`; repeatable.
    #[arg(long = "cache-from", value_name = "SPEC")]
    cache_from: Vec<String>,
    /// A Bazel Remote Execution API cache (`grpc://HOST:PORT`): asked on a local miss, sent
    /// what runs here.
    #[arg(long = "remote-cache", value_name = "URL")]
    remote_cache: Option<String>,
    /// The REAPI instance name.
    #[arg(long = "remote-instance-name", value_name = "NAME", default_value = "")]
    remote_instance_name: String,
    /// A header sent with every REAPI call, `NAME=VALUE` (repeatable).
    #[arg(long = "remote-header", value_name = "NAME=VALUE")]
    remote_header: Vec<String>,
    /// Upload what runs here to the REAPI cache.
    #[arg(long = "remote-upload-local-results", value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    remote_upload_local_results: bool,
    /// Ignore the action cache for the actions of these Dockerfile stages only (by name,
    /// comma-separated or repeated).
    #[arg(long, value_name = "STAGE", value_delimiter = ',')]
    no_cache_filter: Vec<String>,
    /// Write the image ID (`sha256:…`, the config's digest) to FILE, as `docker build --iidfile`.
    #[arg(long, value_name = "FILE")]
    iidfile: Option<std::path::PathBuf>,
    /// Set a label on the image, `KEY=VALUE` (repeatable), over the Dockerfile's `LABEL`s.
    #[arg(long, value_name = "KEY=VALUE")]
    label: Vec<String>,
    /// Write the build's result as JSON to FILE, as `docker buildx build --metadata-file`
    /// (`containerimage.digest`, `containerimage.config.digest`, `image.name`, …).
    #[arg(long, value_name = "FILE")]
    metadata_file: Option<std::path::PathBuf>,
    /// An `/etc/hosts` entry for every RUN step, `NAME:IP` (repeatable), as `docker build
    /// --add-host`.
    #[arg(long = "add-host", value_name = "NAME:IP")]
    add_host: Vec<String>,
    /// `host` gives every RUN step the host's network; by default a step has none unless it
    /// asks (`RUN --network=host`).
    #[arg(long, value_name = "MODE", default_value = "none")]
    network: String,
    /// A secret for `RUN --mount=type=secret`: `id=ID,src=FILE` or `id=ID,env=VAR`
    /// (repeatable). Its bytes never enter a layer, the log or a cache key.
    #[arg(long, value_name = "id=ID,src=FILE")]
    secret: Vec<String>,
    /// An SSH agent for `RUN --mount=type=ssh`: `default` (the agent of `$SSH_AUTH_SOCK`) or
    /// `ID=SOCKET` (repeatable), as `docker build --ssh`. Never in a layer or a cache key.
    #[arg(long, value_name = "ID[=SOCKET]")]
    ssh: Vec<String>,
    /// Print how long each phase took (loading, analysis, execution, outputs) to stderr.
    #[arg(long)]
    timings: bool,
}

impl BuildArgs {
    /// `-q` or `--progress`.
    pub(crate) fn progress_mode(&self) -> ProgressMode {
        if self.quiet {
            ProgressMode::Quiet
        } else {
            self.progress
        }
    }
}

/// The key of the analysis cache: everything besides the workspace's sources (which the cached
/// entry's observations cover) that can change the result.
fn analysis_key(patterns: &Patterns, options: AnalysisOptions) -> Result<Digest, Failure> {
    use std::os::unix::fs::MetadataExt;
    let exe = fs::metadata(std::env::current_exe().internal_fault()?).internal_fault()?;
    let mut text = format!(
        "bld {} {} {} {}\n{}\n{}\n",
        env!("CARGO_PKG_VERSION"),
        exe.len(),
        exe.mtime(),
        exe.mtime_nsec(),
        patterns.workspace.root().display(),
        options.source_date_epoch,
    );
    text.push_str(if options.host_network {
        "network host\n"
    } else {
        "network none\n"
    });
    for pattern in &patterns.patterns {
        text.push_str(&pattern.to_string());
        text.push('\n');
    }
    Ok(Digest::of(text.as_bytes()))
}

/// Loads and analyses the patterns, or reuses a cached analysis whose inputs are unchanged.
/// Set by `bld watch` when nothing an analysis observed has changed since the last build:
/// the cached analysis is then taken without reading its observations again.
static TRUST_CACHED_ANALYSIS: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// The last analysis this process made or read, by its key (`bld watch` takes it again).
static LAST_ANALYSIS: std::sync::Mutex<Option<(Digest, Analysis)>> = std::sync::Mutex::new(None);

/// Whether the next analyses may skip checking the cached one's observations.
pub(crate) fn trust_cached_analysis(trust: bool) {
    TRUST_CACHED_ANALYSIS.store(trust, std::sync::atomic::Ordering::Relaxed);
}

fn load_and_analyze(
    store: &Store,
    patterns: &Patterns,
    options: AnalysisOptions,
    phases: &mut Phases,
) -> Result<Analysis, Failure> {
    let key = analysis_key(patterns, options)?;
    let check = !TRUST_CACHED_ANALYSIS.load(std::sync::atomic::Ordering::Relaxed);
    let mut memo = LAST_ANALYSIS.lock().unwrap_or_else(|p| p.into_inner());
    if !check
        && let Some((memo_key, analysis)) = memo.as_ref()
        && *memo_key == key
    {
        phases.mark("analysis (in memory)");
        return Ok(analysis.clone());
    }
    *memo = None;
    if let Some(analysis) = store
        .get_analysis(&key)?
        .and_then(|b| bld_starlark::decode_analysis(&b, check))
    {
        phases.mark("analysis (cached)");
        *memo = Some((key, analysis.clone()));
        return Ok(analysis);
    }
    let mut resolved = load(patterns)?;
    phases.mark("loading");
    let analysis = analyze(
        &resolved.loader,
        &mut resolved.targets,
        &resolved.labels,
        options,
    )?;
    phases.mark("analysis");
    store.put_analysis(
        &key,
        &encode_analysis(&analysis, resolved.loader.sources().observations()),
    )?;
    *memo = Some((key, analysis.clone()));
    Ok(analysis)
}

/// What a workspace build produced.
pub(crate) struct Built {
    /// Each image built: its label, manifest digest and path under `bld-out/`.
    pub(crate) images: Vec<(bld_core::Label, Digest, String)>,
    /// Each `oci_push` target's image and where `bld run` pushes it: `repository:tag` each.
    pub(crate) pushes: Vec<(Digest, Vec<bld_core::ImageReference>)>,
    /// How many targets were requested.
    pub(crate) targets: usize,
    /// Actions that ran.
    pub(crate) ran: usize,
    /// Actions that were cache hits.
    pub(crate) cached: usize,
    /// Actions that were hits of a remote cache.
    pub(crate) remote_cached: usize,
    /// Whether a remote cache was asked.
    pub(crate) remote: bool,
}

/// `analyse()`, with the store's file-digest cache (a record per file ever hashed) read on a
/// thread of its own meanwhile: on one core, reading it is a tenth of a cached rebuild of a
/// large context.
pub(crate) fn with_file_digests<T>(store: &Store, analyse: impl FnOnce() -> T) -> (T, FileDigests) {
    std::thread::scope(|scope| {
        let loading = scope.spawn(|| FileDigests::load(store));
        let analysed = analyse();
        let digests = loading.join().unwrap_or_else(|_| FileDigests::load(store));
        (analysed, digests)
    })
}

pub(crate) fn build_workspace(
    patterns: &[String],
    store: &Store,
    settings: &BuildSettings,
    phases: &mut Phases,
) -> Result<Built, Failure> {
    let patterns = parse_patterns(patterns)?;
    let (analysis, file_digests) = analyzed(&patterns, store, settings, phases)?;
    let wanted: Vec<_> = wanted_actions(&analysis);

    let remotes = cache::Remotes::open(settings);
    let context = ExecContext {
        workspace_root: patterns.workspace.root().to_owned(),
        store,
        file_digests: &file_digests,
        secrets: settings.secrets.files.clone(),
        ssh_agents: settings.ssh_agents.clone(),
        ignore_cache: settings.ignore_cache(),
        remote: remotes.cache(),
        keep_going: settings.keep_going,
    };
    let profile = phases.profile.as_ref();
    let result = execute_with_log(
        &analysis.graph,
        &wanted,
        &context,
        settings.progress,
        profile,
    );
    remotes.finish_build(store);
    let mut placing = workspace_outputs::Placing {
        store,
        file_digests: &file_digests,
        out_dir: &patterns.workspace.root().join("bld-out"),
        partial: false,
    };
    let (mut images, mut pushes) = (Vec::new(), Vec::new());
    let report = match result {
        Ok(report) => report,
        Err(error) => return Err(placed_anyway(error, &analysis, &mut placing)),
    };
    phases.mark("execution");
    crate::why::after_workspace_build(store, &analysis, &report, settings.explain.as_ref())?;
    cache::export(
        store,
        &analysis.graph,
        &report,
        &wanted,
        &settings.cache_to,
        remotes.cache(),
    );
    // Outputs are checked and linked through the file-digest cache, saved whatever happens.
    let written = workspace_outputs::write(&analysis, &report, &placing, &mut images, &mut pushes);
    file_digests.save(store)?;
    written?;
    keep_images(store, &images)?;
    phases.mark("outputs");
    Ok(Built {
        images,
        pushes,
        targets: analysis.targets.len(),
        ran: report.ran,
        cached: report.cached,
        remote_cached: report.remote_cached,
        remote: remotes.cache().is_some(),
    })
}

/// A failed workspace build's error; with `--keep-going`, what it built is placed in bld-out
/// and recorded all the same.
fn placed_anyway(
    mut error: bld_exec::ExecError,
    analysis: &Analysis,
    placing: &mut workspace_outputs::Placing<'_>,
) -> Failure {
    let placed = error.rest.take().map_or(Ok(()), |rest| {
        placing.partial = true;
        let (mut images, mut pushes) = (Vec::new(), Vec::new());
        workspace_outputs::write(analysis, &rest.report, placing, &mut images, &mut pushes)
            .and_then(|()| keep_images(placing.store, &images))
    });
    let saved = placing.file_digests.save(placing.store);
    match (placed, saved) {
        (Err(failure), _) => failure,
        (_, Err(e)) => e.into(),
        _ => error.into(),
    }
}

/// The targets `patterns` name, analyzed into their action graph (the analysis cache asked
/// first), each tag-named `oci_pull` pinned; the store's file-digest cache, read meanwhile.
pub(crate) fn analyzed(
    patterns: &Patterns,
    store: &Store,
    settings: &BuildSettings,
    phases: &mut Phases,
) -> Result<(Analysis, FileDigests), Failure> {
    let options = AnalysisOptions {
        source_date_epoch: source_date_epoch()?,
        host_network: settings.host_network,
    };
    let analyse = || load_and_analyze(store, patterns, options, phases);
    let (analysis, file_digests) = with_file_digests(store, analyse);
    let mut analysis = analysis?;
    analysis.graph = workspace_pulls::resolve(
        analysis.graph,
        patterns.workspace.root(),
        settings.pull,
        settings.locked,
    )?;
    Ok((analysis, file_digests))
}

/// The actions that make the requested targets' outputs.
pub(crate) fn wanted_actions(analysis: &Analysis) -> Vec<bld_graph::ActionId> {
    analysis
        .targets
        .iter()
        .flat_map(|t| &t.outputs)
        .filter_map(|o| o.action)
        .collect()
}

/// Records the `images` a workspace build made in the store's index, each target's under its
/// local name.
fn keep_images(store: &Store, images: &[(bld_core::Label, Digest, String)]) -> Result<(), Failure> {
    if images.is_empty() {
        return Ok(());
    }
    // What this process recorded already (`bld watch` builds again and again).
    static KEPT: std::sync::Mutex<Option<std::collections::HashMap<bld_core::Label, Digest>>> =
        std::sync::Mutex::new(None);
    let mut kept = KEPT.lock().unwrap_or_else(|p| p.into_inner());
    let kept = kept.get_or_insert_default();
    let new: Vec<_> = images
        .iter()
        .filter(|(label, manifest, _)| kept.get(label) != Some(manifest))
        .collect();
    if new.is_empty() {
        return Ok(());
    }
    let _lock = store.lock_index()?;
    for (label, manifest, _) in new {
        store.add_image(manifest)?;
        if let Some(name) = local_name(label) {
            store.put_tag(&name.to_string(), manifest)?;
        }
        kept.insert(label.clone(), *manifest);
    }
    Ok(())
}

/// The name a built image target gets in the local image store: `//app/api:image` is
/// `bld.local/app/api/image:latest`. Characters a repository cannot hold become `-`; a label
/// that still makes no valid name gets none (the image is kept untagged).
fn local_name(label: &bld_core::Label) -> Option<bld_core::ImageReference> {
    let path: Vec<String> = label
        .package()
        .split('/')
        .chain([label.name()])
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.to_ascii_lowercase()
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._-".contains(c) {
                        c
                    } else {
                        '-'
                    }
                })
                .collect()
        })
        .collect();
    bld_core::ImageReference::parse_tag(&format!("bld.local/{}:latest", path.join("/"))).ok()
}

/// Builds the targets, writes their outputs and prints the summary line.
pub fn run(args: BuildArgs, store_root: &Path) -> Result<(), Failure> {
    // Before anything runs in parallel (hashing a context does).
    if let Some(jobs) = args.jobs {
        bld_exec::set_jobs(usize::from(jobs));
    }
    if args.watch {
        return watched::build_and_watch(&args, store_root);
    }
    run_once(&args, store_root)
}

/// One build of what `args` names.
fn run_once(args: &BuildArgs, store_root: &Path) -> Result<(), Failure> {
    if let Some(context) = dockerfile::context_argument(args)? {
        return dockerfile::run(args, &context, store_root);
    }
    let started = Instant::now();
    let mut phases = Phases::new(args.timings, args.profile.as_deref());
    let dockerfile_only = [
        ("--no-cache-filter", !args.no_cache_filter.is_empty()),
        ("--iidfile", args.iidfile.is_some()),
        ("--label", !args.label.is_empty()),
        ("--metadata-file", args.metadata_file.is_some()),
        ("--add-host", !args.add_host.is_empty()),
        ("--push", args.push),
    ];
    if let Some((flag, _)) = dockerfile_only.iter().find(|(_, given)| *given) {
        return Err(Failure::user(format!(
            "{flag} applies to a Dockerfile build (`bld build [-f FILE] CONTEXT`), not to \
             workspace targets"
        )));
    }
    let store = Store::open(store_root)?;
    let settings = BuildSettings::from_args(args, &store)?;
    cache::workspace_exports(&settings.cache_to)?;
    let built = build_workspace(&args.patterns, &store, &settings, &mut phases)?;
    let images = &built.images;
    if args.progress_mode() != ProgressMode::Quiet {
        for (label, manifest, path) in images {
            println!("{label}  {manifest}  bld-out/{path}");
        }
    }
    let named: Vec<String> = images
        .iter()
        .take(8)
        .map(|(label, manifest, _)| format!("{label} {manifest}"))
        .collect();
    let more = images.len().saturating_sub(named.len());
    let what = match images.len() {
        0 => format!("{} targets, no images", built.targets),
        1 => format!("image {}", named[0]),
        n => format!(
            "{n} images: {}{}",
            named.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ),
    };
    println!(
        "Built {what} in {:.2}s; {}",
        started.elapsed().as_secs_f64(),
        action_counts(
            built.ran,
            built.cached,
            built.remote.then_some(built.remote_cached)
        )
    );
    Ok(())
}

/// `N actions: R ran, L cache hits`, or with a remote cache `N actions: R ran, L local hits, C
/// remote hits`.
pub(crate) fn action_counts(ran: usize, cached: usize, remote: Option<usize>) -> String {
    match remote {
        None => format!("{} actions: {ran} ran, {cached} cache hits", ran + cached),
        Some(remote) => format!(
            "{} actions: {ran} ran, {cached} local hits, {remote} remote hits",
            ran + cached + remote
        ),
    }
}

/// Puts a store blob at `destination` (hard link, or a copy for executables and across
/// filesystems), replacing what was there atomically; does nothing when it is already there.
fn place_file(
    store: &Store,
    file_digests: &FileDigests,
    digest: &bld_core::Digest,
    destination: &Path,
    executable: bool,
) -> Result<(), Failure> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let blob = store.blob_path(digest);
    if !file_digests.blob_is_intact(&blob, digest) {
        bail_internal!("store: blob {digest} is corrupt; build again to replace it");
    }
    let blob_meta = fs::metadata(&blob).internal_fault()?;
    if let Ok(existing) = fs::metadata(destination) {
        if existing.ino() == blob_meta.ino() && existing.dev() == blob_meta.dev() {
            return Ok(());
        }
        if existing.len() == blob_meta.len()
            && bld_store::digest_file(destination).is_ok_and(|(d, _)| d == *digest)
        {
            return Ok(());
        }
    }
    if let Some(parent) = destination.parent() {
        fs::create_dir_all(parent).internal_fault()?;
    }
    let staging = destination.with_file_name(format!(
        ".{}.new-{}",
        destination
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let _ = fs::remove_file(&staging);
    if !executable && fs::hard_link(&blob, &staging).is_ok() {
        file_digests.relinked(&blob, digest, &blob_meta);
    } else {
        fs::copy(&blob, &staging).internal_fault()?;
        let mode = if executable { 0o755 } else { 0o644 };
        fs::set_permissions(&staging, fs::Permissions::from_mode(mode)).internal_fault()?;
    }
    fs::rename(&staging, destination).internal_fault()?;
    Ok(())
}
