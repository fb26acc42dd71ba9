//! The kinds of action and their parameters.

use bld_core::Label;

use bld_core::ImageConfigSpec;
use serde::{Deserialize, Serialize};

use crate::ActionId;

/// Where an action's input comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Input {
    /// A source file, by its path relative to the workspace root (`/`-separated).
    Source(String),
    /// The output of another action.
    Output(ActionId),
}

/// One unit of work and the one artifact it produces.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Action {
    /// The target that declared the action (for messages; not part of the key).
    pub owner: Label,
    /// The output's path relative to its package's output directory (for messages and for
    /// `bld-out/`; not part of the key).
    pub output_name: String,
    /// What to do.
    pub kind: ActionKind,
}

/// What an action does. Each kind produces one artifact.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ActionKind {
    /// Writes `content` to a file.
    WriteFile {
        /// The bytes.
        content: Vec<u8>,
        /// Whether the file is executable (mode 0755 rather than 0644 when packed).
        executable: bool,
    },
    /// Packs files into a deterministic, compressed layer tar.
    PackLayer(PackLayer),
    /// Builds an image (config and manifest) from a base image, layers and configuration.
    AssembleImage(Box<AssembleImage>),
    /// Runs a command in a container over an image; its changes become a layer (`RUN`).
    RunStep(Box<RunStep>),
    /// Copies files out of an image's filesystem into a layer (`COPY --from=<stage>` when the
    /// stage's files are known only once built).
    CopyFromImage(Box<CopyFromImage>),
    /// One file out of a Debian package, fetched from the machine's configured Debian archive
    /// (`apt-get download`) and checked against a pinned sha256.
    FetchDebFile {
        /// The package (`busybox-static`).
        package: String,
        /// Its exact version (`1:1.35.0-4+deb12u1+b1`).
        version: String,
        /// The `.deb`'s pinned sha256.
        sha256: bld_core::Digest,
        /// The file inside the package (`bin/busybox`).
        path: String,
    },
    /// An image already in the store (`FROM` a tagged local image), by manifest digest.
    StoreImage {
        /// The manifest's digest.
        manifest: bld_core::Digest,
    },
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

/// Parameters of [`ActionKind::CopyFromImage`]: Docker's `COPY` rules, applied to an image.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CopyFromImage {
    /// The image to copy from.
    pub image: Input,
    /// Sources (paths or wildcards in the image), expanded.
    pub sources: Vec<String>,
    /// Destination, expanded.
    pub dest: String,
    /// The copying stage's `WORKDIR`, for a relative destination.
    pub workdir: String,
    /// `--exclude` patterns.
    pub excludes: Vec<String>,
    /// `--parents`.
    pub parents: bool,
    /// `--chown` as numeric ids (default root).
    pub chown: Option<(u32, u32)>,
    /// `--chmod`.
    pub chmod: Option<u32>,
    /// The mtime of every entry (`SOURCE_DATE_EPOCH`).
    pub mtime: u64,
}

/// Parameters of [`ActionKind::RunStep`].
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
    /// Where the step comes from, for messages (`app/Dockerfile:3: RUN make`); not part of the
    /// key, since it does not change the output.
    pub origin: String,
}

/// Parameters of [`ActionKind::PackLayer`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PackLayer {
    /// Entries, by their path inside the tar. Missing parent directories are added (0755,
    /// owned by root).
    pub entries: Vec<LayerEntry>,
    /// The mtime of every entry (`SOURCE_DATE_EPOCH`).
    pub mtime: u64,
}

/// One entry of a layer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerEntry {
    /// Path inside the tar, relative, `/`-separated, normalized.
    pub path: String,
    /// What the entry is.
    pub content: EntryContent,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
}

/// What a layer entry is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum EntryContent {
    /// A regular file with the content of `input`.
    File {
        /// The content.
        input: Input,
        /// Its permission bits.
        mode: FileMode,
    },
    /// A directory.
    Dir {
        /// Its permission bits.
        mode: u32,
    },
    /// A symbolic link.
    Symlink {
        /// The link target.
        target: String,
    },
    /// The entries of a tar archive (plain or gzip-compressed), placed under the entry's path
    /// (`""` is the root) with their modes and owners, as Docker's `ADD` unpacks local archives.
    Archive {
        /// The archive.
        input: Input,
    },
}

/// How a file's permission bits are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileMode {
    /// Exactly these bits.
    Exact(u32),
    /// 0755 when the input is executable by its owner, else 0644 (`pkg_tar`).
    KeepExecutableBit,
    /// The input's own permission bits (Docker's `COPY`).
    KeepPermissions,
}

/// Parameters of [`ActionKind::AssembleImage`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssembleImage {
    /// The image this one extends; `None` is `scratch`.
    pub base: Option<Input>,
    /// Layers appended to the base's, in order.
    pub layers: Vec<Input>,
    /// Configuration applied over the base's.
    pub config: ImageConfigSpec,
    /// The image's creation time in seconds since the epoch (`SOURCE_DATE_EPOCH`).
    pub created: u64,
}
