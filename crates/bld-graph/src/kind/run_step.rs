//! [`RunStep`]: a command run in a container over an image (`RUN`), and its mounts.

use serde::{Deserialize, Serialize};

use crate::{Input, InputIdentity, KeyEncoder, Kind};

/// Runs a command in a container over an image; its changes become a layer (`RUN`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunStep {
    /// The image whose filesystem the command runs over.
    pub image: Input,
    /// The program and its arguments.
    pub args: Vec<String>,
    /// `KEY=VALUE` environment.
    pub env: Vec<String>,
    /// Working directory (created if missing).
    pub cwd: String,
    /// `USER`: `""` is root; `UID[:GID]`.
    pub user: String,
    /// Whether the step shares the host's network (otherwise it has none).
    pub host_network: bool,
    /// `RUN --mount`s.
    pub mounts: Vec<RunMount>,
    /// Declared `VOLUME`s: what the step changes under them is discarded, as Docker does.
    pub volumes: Vec<String>,
    /// The mtime of every entry of the resulting layer (`SOURCE_DATE_EPOCH`).
    pub mtime: u64,
    /// Extra `/etc/hosts` entries, `(name, address)` (`docker build --add-host`).
    pub extra_hosts: Vec<(String, String)>,
}

/// A `RUN --mount`: something mounted for the step only, never part of its layer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum RunMount {
    /// A directory kept in the store across builds (`type=cache`); its content is not part
    /// of the key, as in Docker.
    Cache {
        /// Where it is mounted.
        target: String,
        /// Which cache (defaults to the target).
        id: String,
        /// Permission bits of the directory when created.
        mode: u32,
        /// Owner when created.
        uid: u32,
        /// Group when created.
        gid: u32,
    },
    /// A directory of an image (`type=bind,from=<stage>`); its content is the image's, so the
    /// image is an input.
    BindImage {
        /// Where it is mounted.
        target: String,
        /// The image.
        image: Input,
        /// The path in the image (`/` for all of it).
        source: String,
        /// `rw`: the step may write there; what it writes is thrown away afterwards.
        writable: bool,
    },
    /// A file or directory of the build context (`type=bind` without `from`), as bld sees the
    /// context (after `.dockerignore`): the executor builds a private copy of exactly
    /// `entries` and mounts that, so every file the step can see is an input of its key.
    BindContext {
        /// Where it is mounted.
        target: String,
        /// The source, resolved inside the context (for messages).
        source: String,
        /// What the mount shows, parents before children.
        entries: Vec<ViewEntry>,
        /// `rw`: the step may write there; what it writes is thrown away afterwards.
        writable: bool,
    },
    /// A file given inline, read-only (the script of `RUN <<EOF` when it starts with `#!`).
    Inline {
        /// Where it is mounted.
        target: String,
        /// Its bytes.
        content: String,
        /// Permission bits.
        mode: u32,
    },
    /// An empty tmpfs (`type=tmpfs`).
    Tmpfs {
        /// Where it is mounted.
        target: String,
        /// Size limit in bytes.
        size: Option<u64>,
    },
    /// The SSH agent socket the build was given for `id` (`type=ssh`, `bld build --ssh`); only
    /// the id is part of the key, never the socket's path.
    Ssh {
        /// The agent's id (`default`).
        id: String,
        /// Where the socket appears.
        target: String,
        /// Fail when no agent is given for the id.
        required: bool,
        /// Permission bits of the socket.
        mode: u32,
        /// Owner.
        uid: u32,
        /// Group.
        gid: u32,
    },
    /// A secret file, read-only (`type=secret`); its bytes never enter a layer, a log or the
    /// key, only its id does.
    Secret {
        /// The secret's id (`bld build --secret id=ID,src=FILE`).
        id: String,
        /// Where it is mounted.
        target: String,
        /// Fail when the secret is not given.
        required: bool,
        /// Permission bits.
        mode: u32,
        /// Owner.
        uid: u32,
        /// Group.
        gid: u32,
    },
}

/// One entry of a [`RunMount::BindContext`] view, by its path below the mount (`""`: the
/// mount itself, when the source is a file).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ViewEntry {
    /// A directory.
    Dir {
        /// Its path below the mount.
        path: String,
        /// Permission bits.
        mode: u32,
    },
    /// A regular file: a source of the workspace, copied in.
    File {
        /// Its path below the mount.
        path: String,
        /// The source (an [`Input::Source`]).
        input: Input,
        /// Permission bits.
        mode: u32,
    },
    /// A symbolic link, kept as one (it resolves inside the container).
    Symlink {
        /// Its path below the mount.
        path: String,
        /// Its target.
        target: String,
    },
}

impl Kind for RunStep {
    fn encode_key(&self, key: &mut KeyEncoder, identity: &dyn Fn(&Input) -> InputIdentity) {
        let RunStep {
            image,
            args,
            env,
            cwd,
            user,
            host_network,
            mounts,
            volumes,
            mtime,
            extra_hosts,
        } = self;
        // `/2`: gzip members are cut only past 1 MiB (the layer's bytes changed).
        key.tag("run_step/2");
        key.input(identity(image));
        key.strs(args);
        key.strs(env);
        key.str(cwd);
        key.str(user);
        key.bool(*host_network);
        key.strs(volumes);
        key.u64(mounts.len() as u64);
        for mount in mounts {
            mount.encode_key(key, identity);
        }
        key.u64(*mtime);
        // Added after v4: encoded only when given, so that the keys of steps without it stay
        // those of v4 (the encoding up to here is self-delimiting, so no key is shared).
        if !extra_hosts.is_empty() {
            key.tag("extra-hosts");
            key.pairs(extra_hosts);
        }
    }

    fn inputs<'a>(&'a self, inputs: &mut Vec<&'a Input>) {
        inputs.push(&self.image);
        for mount in &self.mounts {
            match mount {
                RunMount::BindImage { image, .. } => inputs.push(image),
                RunMount::BindContext { entries, .. } => {
                    inputs.extend(entries.iter().filter_map(|entry| match entry {
                        ViewEntry::File { input, .. } => Some(input),
                        ViewEntry::Dir { .. } | ViewEntry::Symlink { .. } => None,
                    }));
                }
                RunMount::Cache { .. }
                | RunMount::Inline { .. }
                | RunMount::Tmpfs { .. }
                | RunMount::Secret { .. }
                | RunMount::Ssh { .. } => {}
            }
        }
    }

    fn describe(&self) -> String {
        format!("RUN {}", self.args.join(" "))
    }
}

impl RunMount {
    fn encode_key(&self, key: &mut KeyEncoder, identity: &dyn Fn(&Input) -> InputIdentity) {
        match self {
            RunMount::Cache {
                target,
                id,
                mode,
                uid,
                gid,
            } => {
                key.tag("cache");
                key.str(target);
                key.str(id);
                for n in [mode, uid, gid] {
                    key.u64((*n).into());
                }
            }
            RunMount::BindImage {
                target,
                image,
                source,
                writable,
            } => {
                key.tag("bind-image");
                key.str(target);
                key.input(identity(image));
                key.str(source);
                key.bool(*writable);
            }
            RunMount::BindContext {
                target,
                source,
                entries,
                writable,
            } => {
                key.tag("bind-context");
                key.str(target);
                key.str(source);
                key.bool(*writable);
                ViewEntry::encode_all(entries, key, identity);
            }
            RunMount::Inline {
                target,
                content,
                mode,
            } => {
                key.tag("inline");
                key.str(target);
                key.str(content);
                key.u64((*mode).into());
            }
            RunMount::Tmpfs { target, size } => {
                key.tag("tmpfs");
                key.str(target);
                key.u64(size.unwrap_or(0));
            }
            RunMount::Secret {
                id,
                target,
                required,
                mode,
                uid,
                gid,
            }
            | RunMount::Ssh {
                id,
                target,
                required,
                mode,
                uid,
                gid,
            } => {
                let secret = matches!(self, RunMount::Secret { .. });
                key.tag(if secret { "secret" } else { "ssh" });
                key.str(id);
                key.str(target);
                key.bool(*required);
                for n in [mode, uid, gid] {
                    key.u64((*n).into());
                }
            }
        }
    }
}

impl ViewEntry {
    /// A view's entries, prefixed by their count.
    fn encode_all(
        entries: &[ViewEntry],
        key: &mut KeyEncoder,
        identity: &dyn Fn(&Input) -> InputIdentity,
    ) {
        key.u64(entries.len() as u64);
        for entry in entries {
            entry.encode_key(key, identity);
        }
    }

    fn encode_key(&self, key: &mut KeyEncoder, identity: &dyn Fn(&Input) -> InputIdentity) {
        match self {
            ViewEntry::Dir { path, mode } => {
                key.tag("dir");
                key.str(path);
                key.u64((*mode).into());
            }
            ViewEntry::File { path, input, mode } => {
                key.tag("file");
                key.str(path);
                key.u64((*mode).into());
                key.input(identity(input));
            }
            ViewEntry::Symlink { path, target } => {
                key.tag("symlink");
                key.str(path);
                key.str(target);
            }
        }
    }
}
