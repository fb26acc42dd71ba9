//! `ctx.actions`: the native primitives rule implementations use to add actions to the graph.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use allocative::Allocative;
use bld_core::{HistoryStep, ImageConfigSpec, Label, host_platform};
use bld_dockerfile::context::{ContextEntry, ContextTree, DockerIgnore};
use bld_graph::{
    Action, ActionGraph, ActionKind, AssembleImage, EntryContent, FileMode, Input, LayerEntry,
    PackLayer,
};
use starlark::any::ProvidesStaticType;
use starlark::environment::{Methods, MethodsBuilder};
use starlark::eval::Evaluator;
use starlark::starlark_simple_value;
use starlark::values::dict::DictRef;
use starlark::values::list_or_tuple::UnpackListOrTuple;
use starlark::values::none::NoneOr;
use starlark::values::{NoSerialize, StarlarkValue, Value, ValueLike};
use starlark_derive::{starlark_module, starlark_value};

use crate::sources::Sources;
use crate::values::{Artifact, ArtifactKind};
use bld_dockerfile_lower::{DockerfileBuild, lower_dockerfile};

/// Analysis-wide state the primitives write to (reached through `eval.extra`).
#[derive(ProvidesStaticType)]
pub(crate) struct AnalysisContext {
    pub(crate) graph: RefCell<ActionGraph>,
    outputs: RefCell<HashMap<String, Label>>,
    source_date_epoch: u64,
    host_network: bool,
    /// The recording view of the workspace (`ctx.actions.dockerfile` reads sources).
    sources: Sources,
    workspace_root: PathBuf,
}

impl AnalysisContext {
    pub(crate) fn new(
        options: crate::AnalysisOptions,
        sources: Sources,
        workspace_root: PathBuf,
    ) -> AnalysisContext {
        AnalysisContext {
            graph: RefCell::default(),
            outputs: RefCell::default(),
            source_date_epoch: options.source_date_epoch,
            host_network: options.host_network,
            sources,
            workspace_root,
        }
    }
}

/// `ctx.actions` of one target.
#[derive(Debug, Clone, ProvidesStaticType, NoSerialize, Allocative)]
pub(crate) struct Actions {
    #[allocative(skip)]
    pub(crate) owner: Label,
}
starlark_simple_value!(Actions);

impl fmt::Display for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<actions of {}>", self.owner)
    }
}

/// Every method of `ctx.actions`: these, and the registry's (`pull`, `push`).
fn all_actions_methods(builder: &mut MethodsBuilder) {
    actions_methods(builder);
    crate::registry_actions::registry_methods(builder);
}

starlark::methods_static!(ACTIONS_METHODS = all_actions_methods);

#[starlark_value(type = "actions")]
impl<'v> StarlarkValue<'v> for Actions {
    fn get_methods() -> Option<&'static Methods> {
        Some(ACTIONS_METHODS.methods())
    }
}

pub(crate) fn context<'a>(eval: &'a Evaluator<'_, '_, '_>) -> anyhow::Result<&'a AnalysisContext> {
    eval.extra
        .and_then(|e| e.downcast_ref::<AnalysisContext>())
        .ok_or_else(|| anyhow::anyhow!("`ctx.actions` can only be used during analysis"))
}

pub(crate) fn this_actions<'v>(this: Value<'v>) -> &'v Actions {
    this.downcast_ref::<Actions>()
        .expect("invariant: methods of `actions` get `actions`")
}

/// Normalizes a path inside a layer: no leading `/`, no `.` or empty components, no `..`.
fn tar_path(path: &str) -> anyhow::Result<String> {
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => anyhow::bail!("path `{path}` in a layer may not contain `..`"),
            _ => parts.push(part),
        }
    }
    if parts.is_empty() {
        anyhow::bail!("path `{path}` in a layer names no file");
    }
    Ok(parts.join("/"))
}

fn string_pairs(value: Value<'_>, what: &str) -> anyhow::Result<Vec<(String, String)>> {
    if value.is_none() {
        return Ok(Vec::new());
    }
    let dict = DictRef::from_value(value)
        .ok_or_else(|| anyhow::anyhow!("`{what}` must be a dict of strings, got `{value}`"))?;
    dict.iter()
        .map(|(k, v)| match (k.unpack_str(), v.unpack_str()) {
            (Some(k), Some(v)) => Ok((k.to_owned(), v.to_owned())),
            _ => Err(anyhow::anyhow!(
                "`{what}` must map strings to strings; got `{k}`: `{v}`"
            )),
        })
        .collect()
}

pub(crate) fn artifact_of<'v>(value: Value<'v>, what: &str) -> anyhow::Result<&'v Artifact> {
    value.downcast_ref::<Artifact>().ok_or_else(|| {
        anyhow::anyhow!(
            "{what} must be a File (from `ctx.files` or an action), got `{value}` of type `{}`",
            value.get_type()
        )
    })
}

pub(crate) fn input_of(
    artifact: &Artifact,
    what: &str,
    want: ArtifactKind,
) -> anyhow::Result<Input> {
    let matches = artifact.kind == want
        || (want == ArtifactKind::File && artifact.kind == ArtifactKind::Source);
    if !matches {
        anyhow::bail!("{what}: expected a {}, got {artifact}", want.name());
    }
    Ok(match artifact.action {
        Some(id) => Input::Output(id),
        None => Input::Source(artifact.short_path.clone()),
    })
}

impl AnalysisContext {
    /// Adds `kind` as an action of `owner` producing `name` in its package.
    /// Claims the output `name` of `owner` (unique in the workspace); returns its short path.
    fn claim_output(&self, owner: &Label, name: &str) -> anyhow::Result<String> {
        if name.is_empty()
            || name.starts_with('/')
            || name
                .split('/')
                .any(|p| p.is_empty() || p == "." || p == "..")
        {
            anyhow::bail!(
                "output name `{name}` must be a relative path without `.` or `..` components"
            );
        }
        let short_path = if owner.package().is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", owner.package())
        };
        if let Some(other) = self.outputs.borrow().get(&short_path) {
            anyhow::bail!("output `{short_path}` is declared twice (also by `{other}`)");
        }
        self.outputs
            .borrow_mut()
            .insert(short_path.clone(), owner.clone());
        Ok(short_path)
    }

    pub(crate) fn declare(
        &self,
        owner: &Label,
        name: &str,
        artifact_kind: ArtifactKind,
        kind: ActionKind,
    ) -> anyhow::Result<Artifact> {
        let short_path = self.claim_output(owner, name)?;
        let id = self.graph.borrow_mut().add(Action {
            owner: owner.clone(),
            output_name: name.to_owned(),
            origin: None,
            kind,
        });
        Ok(Artifact {
            kind: artifact_kind,
            owner: owner.clone(),
            short_path,
            action: Some(id),
        })
    }
}

fn parse_mode(mode: &str) -> anyhow::Result<Option<u32>> {
    if mode.is_empty() {
        return Ok(None);
    }
    match u32::from_str_radix(mode, 8) {
        Ok(bits) if bits <= 0o7777 => Ok(Some(bits)),
        _ => anyhow::bail!("`mode` must be octal permission bits such as \"0755\", got \"{mode}\""),
    }
}

fn parse_owner(owner: &str) -> anyhow::Result<(u32, u32)> {
    let parsed = owner
        .split_once('.')
        .and_then(|(u, g)| Some((u.parse().ok()?, g.parse().ok()?)));
    parsed.ok_or_else(|| {
        anyhow::anyhow!("`owner` must be \"UID.GID\" such as \"0.0\", got \"{owner}\"")
    })
}

fn optional_strings(value: Value<'_>, what: &str) -> anyhow::Result<Option<Vec<String>>> {
    if value.is_none() {
        return Ok(None);
    }
    let items: Option<UnpackListOrTuple<String>> =
        starlark::values::UnpackValue::unpack_value(value)
            .ok()
            .flatten();
    items
        .map(|i| Some(i.items))
        .ok_or_else(|| anyhow::anyhow!("`{what}` must be a list of strings, got `{value}`"))
}

#[starlark_module]
fn actions_methods(builder: &mut MethodsBuilder) {
    /// Writes `content` to a new file `name` in the target's package and returns it.
    ///
    /// ```python
    /// out = ctx.actions.write(ctx.attr.name + ".txt", "hello\n", is_executable = False)
    /// ```
    fn write<'v>(
        this: Value<'v>,
        #[starlark(require = named)] name: &str,
        #[starlark(require = named)] content: &str,
        #[starlark(require = named, default = false)] is_executable: bool,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Artifact> {
        let owner = &this_actions(this).owner;
        let kind = ActionKind::WriteFile(bld_graph::WriteFile {
            content: content.as_bytes().to_vec(),
            executable: is_executable,
        });
        context(eval)?.declare(owner, name, ArtifactKind::File, kind)
    }

    /// Packs files into a deterministic gzip layer tar named `name`. `files` maps paths inside
    /// the tar to Files; `symlinks` maps paths to link targets; `mode` (octal, e.g. "0755")
    /// overrides every file's permission bits, which otherwise keep the source's executable bit
    /// (0755 or 0644); `owner` is "UID.GID". Parent directories are added (0755, root).
    ///
    /// ```python
    /// layer = ctx.actions.pack_layer(name = "app.tar.gz", files = {"app/run.sh": f}, mode = "0755")
    /// ```
    fn pack_layer<'v>(
        this: Value<'v>,
        #[starlark(require = named)] name: &str,
        #[starlark(require = named)] files: Value<'v>,
        #[starlark(require = named)] symlinks: Option<Value<'v>>,
        #[starlark(require = named, default = "")] mode: &str,
        #[starlark(require = named, default = "0.0")] owner: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Artifact> {
        let actions = this_actions(this);
        let mode = parse_mode(mode)?;
        let (uid, gid) = parse_owner(owner)?;
        let dict = DictRef::from_value(files).ok_or_else(|| {
            anyhow::anyhow!("`files` must be a dict of path to File, got `{files}`")
        })?;
        let mut entries: Vec<LayerEntry> = Vec::new();
        let mut seen: HashMap<String, String> = HashMap::new();
        for (path, file) in dict.iter() {
            let raw = path
                .unpack_str()
                .ok_or_else(|| anyhow::anyhow!("`files` keys are paths, got `{path}`"))?;
            let path = tar_path(raw)?;
            let artifact = artifact_of(file, &format!("`files[\"{raw}\"]`"))?;
            let input = input_of(artifact, &format!("`files[\"{raw}\"]`"), ArtifactKind::File)?;
            if let Some(previous) = seen.insert(path.clone(), artifact.short_path.clone()) {
                anyhow::bail!(
                    "two files go to `{path}` in the layer: `{previous}` and `{}`",
                    artifact.short_path
                );
            }
            let mode = mode.map_or(FileMode::KeepExecutableBit, FileMode::Exact);
            entries.push(LayerEntry {
                path,
                content: EntryContent::File { input, mode },
                uid,
                gid,
            });
        }
        for (path, target) in string_pairs(symlinks.unwrap_or_else(Value::new_none), "symlinks")? {
            let path = tar_path(&path)?;
            if seen.insert(path.clone(), target.clone()).is_some() {
                anyhow::bail!("`{path}` is both a file and a symlink in the layer");
            }
            entries.push(LayerEntry {
                path,
                content: EntryContent::Symlink { target },
                uid: 0,
                gid: 0,
            });
        }
        for path in seen.keys() {
            let mut prefix = path.as_str();
            while let Some((parent, _)) = prefix.rsplit_once('/') {
                if seen.contains_key(parent) {
                    anyhow::bail!(
                        "`{parent}` is a file in the layer and also the directory of `{path}`"
                    );
                }
                prefix = parent;
            }
        }
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        let context = context(eval)?;
        let kind = ActionKind::PackLayer(PackLayer {
            entries,
            mtime: context.source_date_epoch,
            below: None,
        });
        context.declare(&actions.owner, name, ArtifactKind::Layer, kind)
    }

    /// Assembles an OCI image named `name` from `base` (an image File, or None for scratch),
    /// `layers` (layer Files, in order) and configuration in Docker's terms. `cmd` and
    /// `entrypoint` of None inherit the base's (an `entrypoint` clears the inherited `cmd`).
    ///
    /// ```python
    /// image = ctx.actions.image(name = "image", base = None, layers = [layer], cmd = ["/app"])
    /// ```
    #[allow(clippy::too_many_arguments)] // one Rust parameter per keyword argument
    fn image<'v>(
        this: Value<'v>,
        #[starlark(require = named)] name: &str,
        #[starlark(require = named, default = NoneOr::None)] base: NoneOr<Value<'v>>,
        #[starlark(require = named, default = UnpackListOrTuple::default())]
        layers: UnpackListOrTuple<Value<'v>>,
        #[starlark(require = named)] env: Option<Value<'v>>,
        #[starlark(require = named)] cmd: Option<Value<'v>>,
        #[starlark(require = named)] entrypoint: Option<Value<'v>>,
        #[starlark(require = named, default = NoneOr::None)] workdir: NoneOr<String>,
        #[starlark(require = named, default = NoneOr::None)] user: NoneOr<String>,
        #[starlark(require = named)] labels: Option<Value<'v>>,
        #[starlark(require = named)] exposed_ports: Option<Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Artifact> {
        let actions = this_actions(this);
        let base = match base {
            NoneOr::None => None,
            NoneOr::Other(value) => Some(input_of(
                artifact_of(value, "`base`")?,
                "`base`",
                ArtifactKind::Image,
            )?),
        };
        let mut layer_inputs = Vec::new();
        let mut history = Vec::new();
        for (i, layer) in layers.items.iter().enumerate() {
            let artifact = artifact_of(*layer, &format!("`layers[{i}]`"))?;
            layer_inputs.push(input_of(
                artifact,
                &format!("`layers[{i}]`"),
                ArtifactKind::Layer,
            )?);
            history.push(HistoryStep {
                created_by: format!("bld: {} ({})", artifact.owner, artifact.short_path),
                empty_layer: false,
                comment: None,
            });
        }
        let none = Value::new_none;
        let (os, architecture) = host_platform();
        let config = ImageConfigSpec {
            env: string_pairs(env.unwrap_or_else(none), "env")?,
            cmd: optional_strings(cmd.unwrap_or_else(none), "cmd")?,
            entrypoint: optional_strings(entrypoint.unwrap_or_else(none), "entrypoint")?,
            workdir: workdir.into_option(),
            user: user.into_option(),
            labels: string_pairs(labels.unwrap_or_else(none), "labels")?,
            exposed_ports: optional_strings(exposed_ports.unwrap_or_else(none), "exposed_ports")?
                .unwrap_or_default(),
            history,
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            ..ImageConfigSpec::default()
        };
        let context = context(eval)?;
        let kind = ActionKind::AssembleImage(Box::new(AssembleImage {
            base,
            layers: layer_inputs,
            config,
            created: context.source_date_epoch,
        }));
        context.declare(&actions.owner, name, ArtifactKind::Image, kind)
    }

    /// One file out of a Debian package, fetched with `apt-get download` from the machine's
    /// Debian archive and checked against the pinned `sha256` of the `.deb`; named `name`.
    ///
    /// ```python
    /// busybox = ctx.actions.deb_file(name = "busybox", package = "busybox-static",
    ///     version = "1:1.35.0-4+deb12u1+b1", sha256 = "3d3f…", path = "bin/busybox")
    /// ```
    fn deb_file<'v>(
        this: Value<'v>,
        #[starlark(require = named)] name: &str,
        #[starlark(require = named)] package: &str,
        #[starlark(require = named)] version: &str,
        #[starlark(require = named)] sha256: &str,
        #[starlark(require = named)] path: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Artifact> {
        let owner = &this_actions(this).owner;
        let sha256 =
            bld_core::Digest::from_hex(sha256.trim_start_matches("sha256:")).map_err(|_| {
                anyhow::anyhow!("`sha256` must be 64 lowercase hex digits, got \"{sha256}\"")
            })?;
        let kind = ActionKind::FetchDebFile(bld_graph::FetchDebFile {
            package: package.to_owned(),
            version: version.to_owned(),
            sha256,
            path: path.to_owned(),
        });
        context(eval)?.declare(owner, name, ArtifactKind::File, kind)
    }

    /// Lowers the Dockerfile `src` into this graph and returns the image it builds, named
    /// `name`. `context` lists the build context's files (paths relative to this package;
    /// the package's `.dockerignore` applies); `target` picks a stage; `build_args` sets ARGs;
    /// `stages` maps names used in `FROM` to image Files of other targets.
    ///
    /// ```python
    /// image = ctx.actions.dockerfile(name = "image", src = ctx.file.src, context = ctx.files.context)
    /// ```
    #[allow(clippy::too_many_arguments)] // one Rust parameter per keyword argument
    fn dockerfile<'v>(
        this: Value<'v>,
        #[starlark(require = named)] name: &str,
        #[starlark(require = named)] src: Value<'v>,
        #[starlark(require = named, default = UnpackListOrTuple::default())]
        context: UnpackListOrTuple<Value<'v>>,
        #[starlark(require = named, default = NoneOr::None)] target: NoneOr<String>,
        #[starlark(require = named)] build_args: Option<Value<'v>>,
        #[starlark(require = named)] stages: Option<Value<'v>>,
        #[starlark(require = named, default = "none")] network: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Artifact> {
        let host_network = match network {
            "host" => true,
            "none" | "" => false,
            other => anyhow::bail!("`network` is \"none\" or \"host\", got \"{other}\""),
        };
        let owner = &this_actions(this).owner;
        let analysis = self::context(eval)?;
        let package = owner.package();
        let src = artifact_of(src, "`src`")?;
        if src.kind != ArtifactKind::Source {
            anyhow::bail!("`src` must be a source Dockerfile, got {src}");
        }
        let text = analysis
            .sources
            .read_to_string(&analysis.workspace_root.join(&src.short_path))
            .map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", src.short_path))?;
        let package_dir = analysis.workspace_root.join(package);
        let ignore_text = analysis
            .sources
            .read_to_string(&package_dir.join(".dockerignore"))
            .unwrap_or_default();
        let ignore = DockerIgnore::parse(&ignore_text)
            .map_err(|e| anyhow::anyhow!("{package}/.dockerignore: {e}"))?;
        let mut tree = ContextTree::new();
        for (i, file) in context.items.iter().enumerate() {
            let file = artifact_of(*file, &format!("`context[{i}]`"))?;
            if file.kind != ArtifactKind::Source {
                anyhow::bail!("`context[{i}]`: the build context holds source files, got {file}");
            }
            let relative = if package.is_empty() {
                Some(file.short_path.as_str())
            } else {
                file.short_path
                    .strip_prefix(package)
                    .and_then(|p| p.strip_prefix('/'))
            };
            let Some(relative) = relative else {
                anyhow::bail!(
                    "`context[{i}]`: `{}` is outside the package `//{package}`, the build context",
                    file.short_path
                );
            };
            if !ignore.is_excluded(relative) {
                // Permission bits come from the file when the layer is packed.
                tree.insert(
                    relative,
                    ContextEntry::File {
                        mode: 0o644,
                        size: 0,
                    },
                )
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
        }
        let mut named_images = std::collections::HashMap::new();
        if let Some(stages) = stages.filter(|s| !s.is_none()) {
            let dict = DictRef::from_value(stages).ok_or_else(|| {
                anyhow::anyhow!("`stages` must be a dict of name to image File, got `{stages}`")
            })?;
            for (key, value) in dict.iter() {
                let key = key
                    .unpack_str()
                    .ok_or_else(|| anyhow::anyhow!("`stages` keys are names, got `{key}`"))?;
                let image = artifact_of(value, &format!("`stages[\"{key}\"]`"))?;
                named_images.insert(
                    key.to_owned(),
                    input_of(image, &format!("`stages[\"{key}\"]`"), ArtifactKind::Image)?,
                );
            }
        }
        let short_path = analysis.claim_output(owner, name)?;
        let build = DockerfileBuild {
            text,
            display: src.short_path.clone(),
            context: tree,
            context_dir: package_dir,
            files: Box::new(analysis.sources.clone()),
            context_prefix: package.to_owned(),
            target: target.into_option(),
            build_args: string_pairs(build_args.unwrap_or_else(Value::new_none), "build_args")?,
            named_images,
            // Hermetic: a workspace's images are its targets, not what the store has tagged.
            local_images: Box::new(bld_dockerfile_lower::NoLocalImages),
            source_date_epoch: analysis.source_date_epoch,
            host_network: host_network || analysis.host_network,
            owner: owner.clone(),
            output_name: name.to_owned(),
            labels: Vec::new(),
            extra_hosts: Vec::new(),
        };
        // The typed error goes through Starlark as it is: analysis reports it located.
        let image = lower_dockerfile(&build, &mut analysis.graph.borrow_mut())?;
        Ok(Artifact {
            kind: ArtifactKind::Image,
            owner: owner.clone(),
            short_path,
            action: Some(image),
        })
    }
}
