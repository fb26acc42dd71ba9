//! Containers that outlive the `bld run` that made them: each a directory of the store,
//! `containers/<id>/`, holding its record (`container.json`), its overlay's upper and work
//! directories (what it changed), its bundle and its json-file log (`<id>-json.log`), as
//! Docker keeps them. The runtimes' own state lives beside them, in `containers/runc` and
//! `containers/crun`.

use std::fs;
use std::io::Read as _;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use bld_core::Digest;
use bld_store::Store;
use serde::{Deserialize, Serialize};

use bld_core::{Classify, ErrorKind};

use crate::Failure;

mod copy;
mod ports;
mod runtime;
mod volumes;

pub use copy::{copy_in, copy_into_root, copy_out};
pub use ports::Port;
pub use runtime::{ExecRequest, exec, freeze, runtime_status, signal, started, top};
pub use volumes::{
    Mount, MountSource, anonymous_name, create_volume, list_volumes, parse_mount, parse_volume,
    remove_anonymous_volumes, remove_volume, sandbox_mounts, volume_data, volume_users,
};

/// Why a container could not be made, found or changed.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ContainerError {
    /// What happened.
    pub message: String,
    /// Whose it is to fix.
    pub kind: ErrorKind,
}

impl Classify for ContainerError {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl From<Failure> for ContainerError {
    fn from(failure: Failure) -> ContainerError {
        ContainerError {
            message: failure.message,
            kind: failure.kind,
        }
    }
}

impl From<ContainerError> for Failure {
    fn from(error: ContainerError) -> Failure {
        Failure {
            kind: error.kind,
            message: error.message,
        }
    }
}

/// What a container is and how it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    /// 64 hex digits (12 shown).
    pub id: String,
    /// Unique among the store's containers.
    pub name: String,
    /// The image as it was named (`busybox`, `sha256:…`).
    pub image: String,
    /// The image's manifest.
    pub manifest: Digest,
    /// The process: entrypoint and command.
    pub args: Vec<String>,
    /// When it was made, in seconds since 1970.
    pub created: u64,
    /// How it stands.
    pub state: State,
    /// What `bld run` asked of it, so that a supervisor can start it (again).
    #[serde(default)]
    pub config: RunConfig,
}

/// What `bld run` asks of a container over its image's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Arguments replacing the image's `CMD` (empty: keep it).
    pub command: Vec<String>,
    /// `KEY=VALUE` variables added to or replacing the image's.
    pub env: Vec<String>,
    /// Working directory instead of the image's.
    pub workdir: Option<String>,
    /// `UID[:GID]` instead of the image's `USER`.
    pub user: Option<String>,
    /// Share the host's network.
    pub host_network: bool,
    /// Give the process bld's stdin (`-i`).
    #[serde(default)]
    pub interactive: bool,
    /// `--entrypoint`: replaces the image's (`Some("")` clears it).
    #[serde(default)]
    pub entrypoint: Option<String>,
    /// `--hostname`, instead of the ID's first 12 digits.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Give it a terminal (`-t`).
    #[serde(default)]
    pub tty: bool,
    /// Remove it (and its anonymous volumes) once it exits (`--rm`).
    #[serde(default)]
    pub auto_remove: bool,
    /// Its mounts: binds, volumes, tmpfs.
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// Mount its root filesystem read-only (`--read-only`).
    #[serde(default)]
    pub read_only: bool,
    /// Run an init (tini) as its first process, which reaps zombies and passes signals on
    /// (`--init`).
    #[serde(default)]
    pub init: bool,
    /// Capabilities added to Docker's defaults (`--cap-add`; `ALL`: every one).
    #[serde(default)]
    pub cap_add: Vec<String>,
    /// Capabilities dropped from them (`--cap-drop`; `ALL`: every one).
    #[serde(default)]
    pub cap_drop: Vec<String>,
    /// A network of its own with a way out (slirp4netns; `--network bridge`), instead of
    /// loopback only.
    #[serde(default)]
    pub bridge: bool,
    /// Host ports forwarded into it (`-p`), with `bridge`.
    #[serde(default)]
    pub publish: Vec<Port>,
}

/// How a container stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    /// Made, never started.
    Created,
    /// Running under the bld process `supervisor`.
    Running {
        /// The process that started it and waits for it (its owner tag, `pid.start`).
        supervisor: String,
        /// When it started.
        started: u64,
    },
    /// Ended with `code`.
    Exited {
        /// Its exit code (128 + the signal that killed it).
        code: i32,
        /// When it started.
        started: u64,
        /// When it ended.
        finished: u64,
    },
}

/// Seconds since 1970, now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Docker's random names: an adjective and a surname.
const ADJECTIVES: [&str; 24] = [
    "admiring", "agitated", "amazing", "bold", "brave", "clever", "dazzling", "eager", "ecstatic",
    "elegant", "focused", "gallant", "happy", "jolly", "keen", "loving", "modest", "nifty",
    "pensive", "quirky", "relaxed", "serene", "vibrant", "zealous",
];
const SURNAMES: [&str; 24] = [
    "albattani",
    "babbage",
    "bohr",
    "curie",
    "darwin",
    "einstein",
    "euler",
    "fermi",
    "galileo",
    "hopper",
    "hypatia",
    "kepler",
    "lamport",
    "lovelace",
    "meitner",
    "newton",
    "noether",
    "pasteur",
    "ritchie",
    "shannon",
    "thompson",
    "turing",
    "wozniak",
    "yalow",
];

impl Container {
    /// The first 12 hex digits of the ID, as Docker shows it.
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    /// The container's directory.
    pub fn dir(&self, store: &Store) -> PathBuf {
        containers_dir(store).join(&self.id)
    }

    /// Its json-file log.
    pub fn log(&self, store: &Store) -> PathBuf {
        self.dir(store).join(format!("{}-json.log", self.id))
    }

    /// Where its supervisor serves its terminal (`run -t`).
    pub fn attach_socket(&self, store: &Store) -> PathBuf {
        self.dir(store).join("attach.sock")
    }

    /// What it changed: its overlay's upper directory.
    pub fn upper(&self, store: &Store) -> PathBuf {
        self.dir(store).join("upper")
    }

    /// Its state, as the truth has it: a container whose supervisor is gone is not running
    /// (Docker reports one killed so as exited with 137).
    pub fn current_state(&self) -> State {
        match &self.state {
            State::Running {
                supervisor,
                started,
            } if !bld_core::is_running(supervisor) => State::Exited {
                code: 137,
                started: *started,
                finished: *started,
            },
            state => state.clone(),
        }
    }

    /// Writes the record, whole or not at all.
    pub fn save(&self, store: &Store) -> Result<(), ContainerError> {
        let dir = self.dir(store);
        let path = dir.join("container.json");
        let temporary = dir.join(format!("container.json.{}.tmp", std::process::id()));
        let text = serde_json::to_vec_pretty(self).map_err(Failure::internal)?;
        fs::write(&temporary, text)
            .and_then(|()| fs::rename(&temporary, &path))
            .map_err(|e| Failure::internal(e).into())
    }
}

fn containers_dir(store: &Store) -> PathBuf {
    store.root().join("containers")
}

/// 64 random hex digits.
fn new_id() -> Result<String, Failure> {
    let mut bytes = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(Failure::internal)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether `name` is one Docker accepts: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Makes the record of a new container named `name` (else a random name) for `image`, under
/// the store's index lock so that two with one name cannot both be made.
pub fn create(
    store: &Store,
    name: Option<&str>,
    image: &str,
    manifest: Digest,
    config: RunConfig,
) -> Result<Container, ContainerError> {
    let _lock = store.lock_index().map_err(Failure::of)?;
    let existing = list(store)?;
    let id = new_id()?;
    let name = match name {
        Some(name) if !valid_name(name) => {
            return Err(ContainerError::from(Failure::user(format!(
                "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            ))));
        }
        Some(name) => {
            if let Some(other) = existing.iter().find(|c| c.name == name) {
                return Err(ContainerError::from(Failure::user(format!(
                    "Conflict. The container name \"/{name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                    other.id
                ))));
            }
            name.to_owned()
        }
        None => random_name(&id, &existing),
    };
    let container = Container {
        id,
        name,
        image: image.to_owned(),
        manifest,
        args: Vec::new(),
        created: now(),
        state: State::Created,
        config,
    };
    let dir = container.dir(store);
    fs::create_dir_all(&dir).map_err(Failure::internal)?;
    if let Err(e) = container.save(store) {
        let _ = fs::remove_dir_all(&dir);
        return Err(e);
    }
    Ok(container)
}

/// A Docker-style name no container of `existing` has, chosen by `id`'s digits.
fn random_name(id: &str, existing: &[Container]) -> String {
    let pick = |at: usize| usize::from_str_radix(&id[at..at + 4], 16).unwrap_or(0);
    let base = format!(
        "{}_{}",
        ADJECTIVES[pick(0) % ADJECTIVES.len()],
        SURNAMES[pick(4) % SURNAMES.len()]
    );
    let taken = |name: &str| existing.iter().any(|c| c.name == name);
    if !taken(&base) {
        return base;
    }
    (1..)
        .map(|n| format!("{base}{n}"))
        .find(|name| !taken(name))
        .unwrap_or(base)
}

/// Every container of the store, newest first. A directory whose record cannot be read is
/// skipped (a container being removed, or made by a newer bld).
pub fn list(store: &Store) -> Result<Vec<Container>, ContainerError> {
    let dir = containers_dir(store);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Failure::internal(e).into()),
    };
    let mut containers: Vec<Container> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().len() == 64)
        .filter_map(|e| fs::read(e.path().join("container.json")).ok())
        .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
        .collect();
    // A container whose supervisor was killed: what it left running is killed with the rest
    // of what dead bld processes left, and the record says so (137, as Docker's would).
    let orphaned = containers
        .iter()
        .any(|c| matches!(c.state, State::Running { .. }) && c.current_state() != c.state);
    if orphaned {
        crate::reap_abandoned(store);
        for container in &mut containers {
            if matches!(container.state, State::Running { .. })
                && container.current_state() != container.state
            {
                if let State::Exited { code, started, .. } = container.current_state() {
                    container.state = State::Exited {
                        code,
                        started,
                        finished: now(),
                    };
                }
                let _ = container.save(store);
            }
        }
        // One run with `--rm` goes, as it would have had it ended by itself.
        containers.retain(|container| {
            let gone = container.config.auto_remove
                && matches!(container.state, State::Exited { .. })
                && remove(store, container).is_ok();
            if gone {
                remove_anonymous_volumes(store, container);
            }
            !gone
        });
    }
    containers.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
    Ok(containers)
}

/// The container `text` names: its name, its ID, or an unambiguous prefix of its ID.
pub fn find(store: &Store, text: &str) -> Result<Container, ContainerError> {
    let containers = list(store)?;
    let name = text.strip_prefix('/').unwrap_or(text);
    if let Some(found) = containers.iter().find(|c| c.name == name || c.id == text) {
        return Ok(found.clone());
    }
    let hex = !text.is_empty() && text.chars().all(|c| c.is_ascii_hexdigit());
    let matching: Vec<&Container> = containers
        .iter()
        .filter(|c| hex && c.id.starts_with(text))
        .collect();
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Failure::user(format!("No such container: {text}")).into()),
        _ => Err(Failure::user(format!("multiple IDs found with provided prefix: {text}")).into()),
    }
}

/// Removes the container's directory, upper directory, log and record with it.
pub fn remove(store: &Store, container: &Container) -> Result<(), ContainerError> {
    let dir = container.dir(store);
    bld_sandbox::network::release(&dir);
    // Renamed away first: a half-removed container is never listed.
    let trash = store.temp_path("container-rm");
    match fs::rename(&dir, &trash) {
        Ok(()) => fs::remove_dir_all(&trash).map_err(|e| Failure::internal(e).into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Failure::internal(e).into()),
    }
}

/// Writes the container's filesystem (its image with its changes) to `out` as a tar archive
/// (`docker export`).
pub fn export(
    store: &Store,
    container: &Container,
    out: &mut dyn std::io::Write,
) -> Result<(), ContainerError> {
    let (mut lowers, _) = crate::image_fs::unpacked_layers(store, &container.manifest)?;
    lowers.push(container.upper(store));
    bld_sandbox::write_merged_tar(&lowers, out).map_err(|e| Failure::of(e).into())
}

/// Sets the state of the container `id` in its record as it is now on disk (a rename while it
/// ran is kept), under the index lock.
pub fn set_state(store: &Store, id: &str, state: State) -> Result<Container, ContainerError> {
    let _lock = store.lock_index().map_err(Failure::of)?;
    let path = containers_dir(store).join(id).join("container.json");
    let bytes = fs::read(&path).map_err(Failure::internal)?;
    let mut container: Container = serde_json::from_slice(&bytes).map_err(Failure::internal)?;
    container.state = state;
    container.save(store)?;
    Ok(container)
}

/// Records that this process runs `container` (whose `args` are its process) since `started`,
/// over its record as it is now (a rename meanwhile stays).
pub fn record_started(
    store: &Store,
    container: &Container,
    started: u64,
) -> Result<(), ContainerError> {
    let mut record = find(store, &container.id)?;
    record.args.clone_from(&container.args);
    record.save(store)?;
    let running = State::Running {
        supervisor: bld_core::current_owner().to_owned(),
        started,
    };
    set_state(store, &container.id, running).map(drop)
}

/// Renames the container to `name`, refused when another has it.
pub fn rename(store: &Store, container: &Container, name: &str) -> Result<(), ContainerError> {
    let _lock = store.lock_index().map_err(Failure::of)?;
    if !valid_name(name) {
        return Err(Failure::user(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        ))
        .into());
    }
    if let Some(other) = list(store)?
        .iter()
        .find(|c| c.name == name && c.id != container.id)
    {
        return Err(Failure::user(format!(
            "Error when allocating new name: Conflict. The container name \"/{name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
            other.id
        ))
        .into());
    }
    let mut renamed = find(store, &container.id)?;
    renamed.name = name.to_owned();
    renamed.save(store)
}

/// What the container changed, as `docker diff` lists it: `A` for a path its image does not
/// have, `C` for one it changed (a directory holding a change is changed), `D` for one it
/// deleted; sorted by path. The mount points the runtime makes (`/dev`, `/proc`, …) and the
/// files bld binds over (`/etc/hosts`, …) are not its changes.
pub fn changes(
    store: &Store,
    container: &Container,
) -> Result<Vec<(char, String)>, ContainerError> {
    let (lowers, _) = crate::image_fs::unpacked_layers(store, &container.manifest)?;
    let image = bld_sandbox::LayerStack::new(&lowers);
    let upper = container.upper(store);
    let mut changes = bld_sandbox::upper_changes(&upper).map_err(Failure::of)?;
    crate::kind::run_step::drop_unmade_changes(&mut changes, &bound_files(), &[]);
    let mut listed = Vec::new();
    for change in changes {
        if crate::kind::run_step::is_empty_mount_point(&upper, &change) {
            continue;
        }
        let kind = match change.kind {
            bld_sandbox::ChangeKind::Whiteout => 'D',
            _ if image.exists(&change.path) => 'C',
            _ => 'A',
        };
        listed.push((kind, change.path));
    }
    listed.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(listed)
}

/// Files the runtime binds over: their empty mount points are left in the upper directory,
/// and are no change of the container's (Docker keeps them in an init layer of their own).
pub fn bound_files() -> Vec<String> {
    ["etc/hosts", "etc/hostname", "etc/resolv.conf"]
        .map(String::from)
        .to_vec()
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_dockers() {
        for good in ["base-container", "a", "x.y_z-1"] {
            assert!(super::valid_name(good), "{good}");
        }
        for bad in ["", "-x", "a b", "a/b", "é"] {
            assert!(!super::valid_name(bad), "{bad}");
        }
    }
}
