//! An image's filesystem as steps and containers see it: its layers unpacked once into the
//! store, its users and groups, its environment.

use std::path::PathBuf;

use bld_core::Digest;
use bld_oci::read_image;
use bld_sandbox::{LayerSource, LayerStack, unpack_layer, unpacked_dir};
use bld_store::Store;

use crate::Failure;

/// The `PATH` a step gets when its image sets none (Docker's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `(name, id, primary gid)` of each line of a passwd- or group-format file.
fn entries(text: &str) -> impl Iterator<Item = (&str, u32, u32)> {
    text.lines().filter_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        let id = fields.get(2)?.parse().ok()?;
        let gid = fields.get(3).and_then(|g| g.parse().ok()).unwrap_or(id);
        Some((fields[0], id, gid))
    })
}

/// The ids of the groups of a group-format file that list `user` as a member.
fn groups_of(groups: &str, user: &str) -> Vec<u32> {
    groups
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            let members = fields.get(3)?;
            members
                .split(',')
                .any(|member| member.trim() == user)
                .then(|| fields.get(2)?.parse().ok())
                .flatten()
        })
        .collect()
}

/// Who a process runs as: its user and group, and its supplementary groups.
pub(crate) struct RunAs {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// The groups of the image's /etc/group that list the user, when `USER` names no group
    /// (as runc's `GetExecUser` finds them).
    pub(crate) groups: Vec<u32>,
}

/// Resolves `USER` as Docker does: names through the image's /etc/passwd and /etc/group; a
/// user without a group takes its passwd entry's group, or 0.
pub(crate) fn resolve_user(user: &str, lowers: &[PathBuf]) -> Result<RunAs, Failure> {
    resolve_user_for(&format!("USER {user}"), user, lowers)
}

/// [`resolve_user`], its errors naming what asked for `user` as `asked` (`USER app`,
/// `--chown=app`).
pub(crate) fn resolve_user_for(
    asked: &str,
    user: &str,
    lowers: &[PathBuf],
) -> Result<RunAs, Failure> {
    if user.is_empty() {
        return Ok(RunAs {
            uid: 0,
            gid: 0,
            groups: Vec::new(),
        });
    }
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let image = LayerStack::new(lowers);
    let read = |path: &str| {
        image
            .read_file(path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    };
    let passwd = read("etc/passwd");
    let entry =
        entries(&passwd).find(|(name, uid, _)| *name == user_part || user_part.parse() == Ok(*uid));
    let uid = match (user_part.parse::<u32>(), entry) {
        (Ok(uid), _) => uid,
        (Err(_), Some((_, uid, _))) => uid,
        (Err(_), None) => {
            return Err(Failure::user(format!(
                "{asked}: no user `{user_part}` in the image's /etc/passwd"
            )));
        }
    };
    let groups = read("etc/group");
    let gid = match group_part {
        None => entry.map_or(0, |(_, _, gid)| gid),
        Some(group) => match group.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => {
                let found = entries(&groups).find(|(name, _, _)| *name == group);
                found.map(|(_, gid, _)| gid).ok_or_else(|| {
                    Failure::user(format!(
                        "{asked}: no group `{group}` in the image's /etc/group"
                    ))
                })?
            }
        },
    };
    let supplementary = match (group_part, entry) {
        (None, Some((name, _, _))) => groups_of(&groups, name),
        _ => Vec::new(),
    };
    Ok(RunAs {
        uid,
        gid,
        groups: supplementary,
    })
}

/// The image's layers unpacked (once) into the store, bottom first, and its config.
pub(crate) fn unpacked_layers(
    store: &Store,
    manifest: &Digest,
) -> Result<(Vec<PathBuf>, serde_json::Map<String, serde_json::Value>), Failure> {
    let (parsed, config) = read_image(store, manifest).map_err(Failure::internal)?;
    let diff_ids: Vec<&str> = config
        .get("rootfs")
        .and_then(|r| r.get("diff_ids"))
        .and_then(|d| d.as_array())
        .map(|ids| ids.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    if diff_ids.len() != parsed.layers().len() {
        return Err(Failure::internal(format!(
            "image {manifest}: {} layers but {} diff IDs",
            parsed.layers().len(),
            diff_ids.len()
        )));
    }
    let unpacked = store.private_dir("unpacked").map_err(Failure::internal)?;
    let mut lowers = Vec::new();
    for (layer, diff_id) in parsed.layers().iter().zip(diff_ids) {
        let blob: Digest = layer
            .digest()
            .to_string()
            .parse()
            .map_err(Failure::internal)?;
        let diff_id: Digest = diff_id.parse().map_err(Failure::internal)?;
        let source = LayerSource {
            blob: &store.blob_path(&blob),
            digest: blob,
            diff_id,
        };
        let root = unpack_layer(&source, &unpacked_dir(&unpacked, &diff_id), &|hint| {
            store.temp_path(hint)
        })
        .map_err(Failure::of)?;
        lowers.push(root);
    }
    // A layer may appear twice (two steps that changed nothing give the same layer); overlayfs
    // refuses a directory twice. Keeping only the topmost copy shows the same files: it covers
    // every path the lower copy has.
    let mut seen = std::collections::HashSet::new();
    let mut unique: Vec<PathBuf> = lowers
        .into_iter()
        .rev()
        .filter(|l| seen.insert(l.clone()))
        .collect();
    unique.reverse();
    Ok((unique, config))
}

/// The image's environment, then `extra` variables where the image does not set them, and a
/// `PATH` if there is none, as Docker runs steps.
pub(crate) fn environment(
    config: &serde_json::Map<String, serde_json::Value>,
    extra: &[String],
    extra_wins: bool,
) -> Vec<String> {
    let mut env: Vec<String> = config
        .get("config")
        .and_then(|c| c.get("Env"))
        .and_then(|e| e.as_array())
        .map(|vars| {
            vars.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let name_of = |var: &str| var.split_once('=').map_or(var, |(k, _)| k).to_owned();
    for var in extra {
        let name = name_of(var);
        match env.iter().position(|e| name_of(e) == name) {
            Some(i) if extra_wins => env[i] = var.clone(),
            Some(_) => {}
            None => env.push(var.clone()),
        }
    }
    if !env.iter().any(|e| name_of(e) == "PATH") {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    env
}

/// The OCI runtime steps and containers run with (`BLD_RUNTIME`, default `runc`).
pub(crate) fn runtime() -> String {
    std::env::var("BLD_RUNTIME").unwrap_or_else(|_| "runc".to_owned())
}

/// The OCI runtime `RUN` steps use: `BLD_RUNTIME`, else crun where it is installed (it starts
/// a container in a fraction of runc's time, which a rebuild of one step mostly is), else
/// runc. `bld run` keeps runc ([`runtime`]): the messages of a command that cannot start are
/// runc's, as Docker prints them.
pub(crate) fn step_runtime() -> String {
    if let Ok(runtime) = std::env::var("BLD_RUNTIME") {
        return runtime;
    }
    let installed = |name: &str| {
        std::env::var_os("PATH").is_some_and(|path| {
            std::env::split_paths(&path).any(|dir| {
                use std::os::unix::fs::PermissionsExt;
                std::fs::metadata(dir.join(name))
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
        })
    };
    if installed("crun") { "crun" } else { "runc" }.to_owned()
}

/// The image `manifest`'s layers unpacked (once) into the store, bottom first: its merged
/// filesystem for `bld build -o type=tar|local` ([`bld_sandbox::write_merged_tar`]).
pub fn image_layers(store: &Store, manifest: &Digest) -> Result<Vec<PathBuf>, crate::ExecError> {
    unpacked_layers(store, manifest)
        .map(|(lowers, _)| lowers)
        .map_err(|failure| crate::ExecError {
            owner: manifest.to_string(),
            output: "filesystem".to_owned(),
            origin: None,
            message: failure.message,
            kind: failure.kind,
            rest: None,
        })
}
