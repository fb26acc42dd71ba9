//! `RUN --mount` (BuildKit's `convert_runmount.go`): each mount as the action carries it,
//! targets made absolute and defaults filled in as BuildKit does; a bind mount of an earlier
//! stage lowers that stage, one of the build context lists what it shows.

use bld_dockerfile::context::ContextEntry;
use bld_dockerfile::instructions::{BindMount, CacheMount, Mount, SecretMount, SshMount};
use bld_graph::{ActionGraph, Input, RunMount, ViewEntry};

use crate::DockerfileBuild;
use crate::error::{LowerError, Problem, Site};
use crate::metadata::{StageConfig, absolute};
use crate::stages::Lowering;

impl Lowering<'_> {
    /// The mounts of a `RUN` of `stage`, in the order the action carries them: every other
    /// kind first, then the bind mounts.
    pub(crate) fn run_mounts(
        &mut self,
        stage: usize,
        site: Site<'_>,
        mounts: &[Mount],
        config: &StageConfig,
        graph: &mut ActionGraph,
    ) -> Result<Vec<RunMount>, LowerError> {
        let mut lowered = Vec::new();
        let mut ssh_mounts = 0;
        for mount in mounts.iter().filter(|m| !matches!(m, Mount::Bind(_))) {
            let other = match mount {
                Mount::Ssh(ssh) => {
                    ssh_mounts += 1;
                    Ok(ssh_mount(ssh, config, ssh_mounts))
                }
                other => other_mount(other, config),
            };
            lowered.push(other.map_err(|p| site.error(p))?);
        }
        for mount in mounts {
            if let Mount::Bind(bind) = mount {
                lowered.push(self.bind_mount(stage, site, bind, config, graph)?);
            }
        }
        Ok(lowered)
    }

    /// A `RUN --mount=type=bind`: a directory of an earlier stage or image (`from=`), or of the
    /// build context, read-only unless `rw`.
    fn bind_mount(
        &mut self,
        stage: usize,
        site: Site<'_>,
        bind: &BindMount,
        config: &StageConfig,
        graph: &mut ActionGraph,
    ) -> Result<RunMount, LowerError> {
        let writable = !bind.read_only;
        let target = absolute(&config.workdir, &bind.target);
        let Some(from) = &bind.from else {
            let source = bind.source.as_deref().unwrap_or(".");
            return Ok(RunMount::BindContext {
                target,
                source: source.to_owned(),
                entries: context_view(self.build, source).map_err(|p| site.error(p))?,
                writable,
            });
        };
        let name = config
            .expand(&self.lex, from)
            .map_err(|message| site.error(Problem::user(message).at_flag("mount")))?;
        let image = match self.stage_named(&name, stage) {
            Some(earlier) => Input::Output(self.lower_stage(earlier, graph)?.image),
            None => self
                .image_named(&name, graph)
                .map_err(|problem| site.error(problem.at_flag("mount")))?
                .ok_or_else(|| {
                    site.error(
                        Problem::user(format!(
                            "--mount from={name}: no earlier stage or image has that name"
                        ))
                        .at_flag("mount"),
                    )
                })?,
        };
        Ok(RunMount::BindImage {
            target,
            image,
            source: bind.source.clone().unwrap_or_else(|| "/".to_owned()),
            writable,
        })
    }
}

/// A mount that is not a bind mount.
fn other_mount(mount: &Mount, config: &StageConfig) -> Result<RunMount, Problem> {
    match mount {
        Mount::Cache(cache) => cache_mount(cache, config).map_err(|p| p.at_flag("mount")),
        Mount::Tmpfs(tmpfs) => Ok(RunMount::Tmpfs {
            target: absolute(&config.workdir, &tmpfs.target),
            size: tmpfs.size,
        }),
        Mount::Secret(secret) => secret_mount(secret, config).map_err(|p| p.at_flag("mount")),
        Mount::Bind(_) | Mount::Ssh(_) => Err(Problem::internal("a bind or ssh mount here")),
    }
}

/// `type=ssh`, the `number`th of its step: the id defaults to `default`, the target to
/// `/run/buildkit/ssh_agent.<number - 1>`, the mode to 0600, as in BuildKit.
fn ssh_mount(ssh: &SshMount, config: &StageConfig, number: usize) -> RunMount {
    RunMount::Ssh {
        id: ssh.id.clone().unwrap_or_else(|| "default".to_owned()),
        target: ssh.target.as_deref().map_or_else(
            || format!("/run/buildkit/ssh_agent.{}", number - 1),
            |target| absolute(&config.workdir, target),
        ),
        required: ssh.required,
        mode: ssh.mode.unwrap_or(0o600),
        uid: ssh.uid.unwrap_or(0),
        gid: ssh.gid.unwrap_or(0),
    }
}

/// `type=cache`: the id defaults to the target, as in BuildKit.
fn cache_mount(cache: &CacheMount, config: &StageConfig) -> Result<RunMount, Problem> {
    if cache.from.is_some() || cache.source.is_some() {
        return Err(Problem::user(
            "RUN --mount=type=cache,from=… is not supported yet",
        ));
    }
    let target = absolute(&config.workdir, &cache.target);
    Ok(RunMount::Cache {
        id: cache.id.clone().unwrap_or_else(|| target.clone()),
        target,
        mode: cache.mode.unwrap_or(0o755),
        uid: cache.uid.unwrap_or(0),
        gid: cache.gid.unwrap_or(0),
    })
}

/// `type=secret`: the id defaults to the target's file name, the target to
/// `/run/secrets/<id>`.
fn secret_mount(secret: &SecretMount, config: &StageConfig) -> Result<RunMount, Problem> {
    if secret.env.is_some() {
        return Err(Problem::user(
            "RUN --mount=type=secret,env=… is not supported yet",
        ));
    }
    let id = match (&secret.id, &secret.target) {
        (Some(id), _) => id.clone(),
        (None, Some(target)) => target.rsplit('/').next().unwrap_or_default().to_owned(),
        (None, None) => {
            return Err(Problem::user(
                "RUN --mount=type=secret needs an id or a target",
            ));
        }
    };
    let target = secret.target.as_deref().map_or_else(
        || format!("/run/secrets/{id}"),
        |target| absolute(&config.workdir, target),
    );
    Ok(RunMount::Secret {
        id,
        target,
        required: secret.required,
        mode: secret.mode.unwrap_or(0o400),
        uid: secret.uid.unwrap_or(0),
        gid: secret.gid.unwrap_or(0),
    })
}

/// What a `RUN --mount=type=bind` of the build context shows: the entries of the context under
/// `source` (resolved inside the context, as if its root were `/`), relative to it.
fn context_view(build: &DockerfileBuild, source: &str) -> Result<Vec<ViewEntry>, Problem> {
    let resolved = build.context.resolve_in_root(source, true).map_err(|e| {
        Problem::user(format!("--mount source={source}: {e} in the build context")).at_flag("mount")
    })?;
    let in_context = |path: &str| Input::Source(build.context_path(path));
    let entry = |path: String, full: &str, entry: &ContextEntry| match entry {
        ContextEntry::Dir { mode } => ViewEntry::Dir { path, mode: *mode },
        ContextEntry::File { mode, .. } => ViewEntry::File {
            path,
            input: in_context(full),
            mode: *mode,
        },
        ContextEntry::Symlink { target } => ViewEntry::Symlink {
            path,
            target: target.clone(),
        },
    };
    if let Some(file @ ContextEntry::File { .. }) = build.context.get(&resolved) {
        return Ok(vec![entry(String::new(), &resolved, file)]);
    }
    Ok(build
        .context
        .descendants(&resolved)
        .map(|(full, e)| {
            let below = if resolved.is_empty() {
                full
            } else {
                &full[resolved.len() + 1..]
            };
            entry(below.to_owned(), full, e)
        })
        .collect())
}
