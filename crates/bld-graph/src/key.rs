//! [`ActionKey`]: the sha256 of a canonical, versioned encoding of an action.
//!
//! The encoding is a sequence of tagged, length-prefixed fields written straight into the
//! hasher. It covers the action's kind, every parameter, and the identity (content digest and
//! executable bit) of every input, never paths of the checkout, mtimes, or the action's owner.
//! Changing the encoding means bumping [`KEY_VERSION`], which invalidates every cached result.

use std::fmt;

use bld_core::Digest;
use sha2::{Digest as _, Sha256};

use crate::{
    Action, ActionKind, EntryContent, FileMode, ImageConfigSpec, Input, RunMount, ViewEntry,
};

/// Bumped whenever the encoding below, or the output an action produces for a given key,
/// changes.
pub const KEY_VERSION: &str = "bld-action-key-v4";

/// The cache key of an action.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ActionKey(pub Digest);

impl fmt::Display for ActionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for ActionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// What an action sees of one input: its content digest and its permission bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputIdentity {
    /// Digest of the content (for an image, of its manifest; for a layer, of its blob).
    pub digest: Digest,
    /// Permission bits (`mode & 0o7777`) of a file; 0 for images and layers.
    pub mode: u32,
}

struct KeyEncoder(Sha256);

impl KeyEncoder {
    fn tag(&mut self, tag: &str) {
        self.str(tag);
    }
    fn u64(&mut self, value: u64) {
        self.0.update(value.to_le_bytes());
    }
    fn bytes(&mut self, bytes: &[u8]) {
        self.u64(bytes.len() as u64);
        self.0.update(bytes);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn bool(&mut self, b: bool) {
        self.0.update([u8::from(b)]);
    }
    fn opt_u64(&mut self, value: Option<u64>) {
        match value {
            Some(v) => {
                self.bool(true);
                self.u64(v);
            }
            None => self.bool(false),
        }
    }
    fn opt_str(&mut self, value: Option<&str>) {
        match value {
            Some(v) => {
                self.bool(true);
                self.str(v);
            }
            None => self.bool(false),
        }
    }
    fn strs(&mut self, values: &[String]) {
        self.u64(values.len() as u64);
        for v in values {
            self.str(v);
        }
    }
    fn opt_strs(&mut self, values: Option<&[String]>) {
        match values {
            Some(v) => {
                self.bool(true);
                self.strs(v);
            }
            None => self.bool(false),
        }
    }
    fn pairs(&mut self, pairs: &[(String, String)]) {
        self.u64(pairs.len() as u64);
        for (k, v) in pairs {
            self.str(k);
            self.str(v);
        }
    }
    fn input(&mut self, identity: InputIdentity) {
        self.0.update(identity.digest.as_bytes());
        self.u64(identity.mode.into());
    }
}

impl Action {
    /// This action's key, given the identity of each of its inputs.
    pub fn key(&self, identity: &dyn Fn(&Input) -> InputIdentity) -> ActionKey {
        let mut e = KeyEncoder(Sha256::new());
        e.tag(KEY_VERSION);
        match &self.kind {
            ActionKind::WriteFile {
                content,
                executable,
            } => {
                e.tag("write_file");
                e.bytes(content);
                e.bool(*executable);
            }
            ActionKind::PackLayer(pack) => {
                e.tag("pack_layer");
                e.u64(pack.mtime);
                e.u64(pack.entries.len() as u64);
                for entry in &pack.entries {
                    e.str(&entry.path);
                    e.u64(entry.uid.into());
                    e.u64(entry.gid.into());
                    match &entry.content {
                        EntryContent::File { input, mode } => {
                            e.tag("file");
                            let input = identity(input);
                            e.0.update(input.digest.as_bytes());
                            // Only the bits the mode rule reads are part of the key.
                            let bits = match mode {
                                FileMode::Exact(bits) => *bits,
                                FileMode::KeepExecutableBit => input.mode & 0o100,
                                FileMode::KeepPermissions => input.mode & 0o7777,
                            };
                            e.tag(match mode {
                                FileMode::Exact(_) => "exact",
                                FileMode::KeepExecutableBit => "keep-x",
                                FileMode::KeepPermissions => "keep",
                            });
                            e.u64(bits.into());
                        }
                        EntryContent::Dir { mode } => {
                            e.tag("dir");
                            e.u64((*mode).into());
                        }
                        EntryContent::Symlink { target } => {
                            e.tag("symlink");
                            e.str(target);
                        }
                        EntryContent::Archive { input } => {
                            e.tag("archive");
                            e.0.update(identity(input).digest.as_bytes());
                        }
                    }
                }
            }
            ActionKind::CopyFromImage(copy) => {
                e.tag("copy_from_image");
                e.input(identity(&copy.image));
                e.strs(&copy.sources);
                e.str(&copy.dest);
                e.str(&copy.workdir);
                e.strs(&copy.excludes);
                e.bool(copy.parents);
                e.opt_u64(copy.chown.map(|(u, g)| (u64::from(u) << 32) | u64::from(g)));
                e.opt_u64(copy.chmod.map(u64::from));
                e.u64(copy.mtime);
            }
            ActionKind::FetchDebFile {
                package,
                version,
                sha256,
                path,
            } => {
                e.tag("fetch_deb_file");
                e.str(package);
                e.str(version);
                e.0.update(sha256.as_bytes());
                e.str(path);
            }
            ActionKind::StoreImage { manifest } => {
                e.tag("store_image");
                e.0.update(manifest.as_bytes());
            }
            ActionKind::RunStep(step) => {
                e.tag("run_step");
                e.input(identity(&step.image));
                e.strs(&step.args);
                e.strs(&step.env);
                e.str(&step.cwd);
                e.str(&step.user);
                e.bool(step.host_network);
                e.strs(&step.volumes);
                e.u64(step.mounts.len() as u64);
                for mount in &step.mounts {
                    match mount {
                        RunMount::Cache {
                            target,
                            id,
                            mode,
                            uid,
                            gid,
                        } => {
                            e.tag("cache");
                            e.str(target);
                            e.str(id);
                            for n in [*mode, *uid, *gid] {
                                e.u64(n.into());
                            }
                        }
                        RunMount::BindImage {
                            target,
                            image,
                            source,
                            writable,
                        } => {
                            e.tag("bind-image");
                            e.str(target);
                            e.input(identity(image));
                            e.str(source);
                            e.bool(*writable);
                        }
                        RunMount::BindContext {
                            target,
                            source,
                            entries,
                            writable,
                        } => {
                            e.tag("bind-context");
                            e.str(target);
                            e.str(source);
                            e.bool(*writable);
                            e.u64(entries.len() as u64);
                            for entry in entries {
                                match entry {
                                    ViewEntry::Dir { path, mode } => {
                                        e.tag("dir");
                                        e.str(path);
                                        e.u64((*mode).into());
                                    }
                                    ViewEntry::File { path, input, mode } => {
                                        e.tag("file");
                                        e.str(path);
                                        e.u64((*mode).into());
                                        e.input(identity(input));
                                    }
                                    ViewEntry::Symlink { path, target } => {
                                        e.tag("symlink");
                                        e.str(path);
                                        e.str(target);
                                    }
                                }
                            }
                        }
                        RunMount::Inline {
                            target,
                            content,
                            mode,
                        } => {
                            e.tag("inline");
                            e.str(target);
                            e.str(content);
                            e.u64((*mode).into());
                        }
                        RunMount::Tmpfs { target, size } => {
                            e.tag("tmpfs");
                            e.str(target);
                            e.u64(size.unwrap_or(0));
                        }
                        RunMount::Secret {
                            id,
                            target,
                            required,
                            mode,
                            uid,
                            gid,
                        } => {
                            e.tag("secret");
                            e.str(id);
                            e.str(target);
                            e.bool(*required);
                            for n in [*mode, *uid, *gid] {
                                e.u64(n.into());
                            }
                        }
                    }
                }
                e.u64(step.mtime);
            }
            ActionKind::AssembleImage(image) => {
                e.tag("assemble_image");
                match &image.base {
                    Some(base) => {
                        e.bool(true);
                        e.input(identity(base));
                    }
                    None => e.bool(false),
                }
                e.u64(image.layers.len() as u64);
                for layer in &image.layers {
                    e.input(identity(layer));
                }
                e.u64(image.created);
                encode_config(&mut e, &image.config);
            }
        }
        ActionKey(Digest::from_bytes(e.0.finalize().into()))
    }
}

fn encode_config(e: &mut KeyEncoder, config: &ImageConfigSpec) {
    let ImageConfigSpec {
        env,
        cmd,
        entrypoint,
        workdir,
        user,
        labels,
        exposed_ports,
        volumes,
        stop_signal,
        healthcheck,
        on_build,
        clear_on_build,
        shell,
        author,
        history,
        os,
        architecture,
    } = config;
    e.pairs(env);
    e.opt_strs(cmd.as_deref());
    e.opt_strs(entrypoint.as_deref());
    e.opt_str(workdir.as_deref());
    e.opt_str(user.as_deref());
    e.pairs(labels);
    e.strs(exposed_ports);
    e.strs(volumes);
    e.opt_str(stop_signal.as_deref());
    match healthcheck {
        Some(h) => {
            e.bool(true);
            e.strs(&h.test);
            for ns in [
                h.interval_ns,
                h.timeout_ns,
                h.start_period_ns,
                h.start_interval_ns,
            ] {
                e.u64(ns);
            }
            e.u64(h.retries.into());
        }
        None => e.bool(false),
    }
    e.strs(on_build);
    e.bool(*clear_on_build);
    e.opt_strs(shell.as_deref());
    e.opt_str(author.as_deref());
    e.u64(history.len() as u64);
    for step in history {
        e.str(&step.created_by);
        e.bool(step.empty_layer);
    }
    e.str(os);
    e.str(architecture);
}

#[cfg(test)]
mod tests {
    use super::*;
    use bld_core::Label;

    fn write(content: &str, owner: &str) -> Action {
        Action {
            owner: Label::new("p", owner).expect("label"),
            output_name: owner.into(),
            kind: ActionKind::WriteFile {
                content: content.as_bytes().to_vec(),
                executable: false,
            },
        }
    }

    fn no_inputs(_: &Input) -> InputIdentity {
        unreachable!("write actions have no inputs")
    }

    #[test]
    fn key_covers_content_but_not_owner() {
        assert_eq!(
            write("a", "x").key(&no_inputs),
            write("a", "y").key(&no_inputs)
        );
        assert_ne!(
            write("a", "x").key(&no_inputs),
            write("b", "x").key(&no_inputs)
        );
    }

    #[test]
    fn length_prefixes_keep_fields_apart() {
        let image = |cmd: Vec<&str>| Action {
            kind: ActionKind::AssembleImage(Box::new(crate::AssembleImage {
                base: None,
                layers: vec![],
                config: ImageConfigSpec {
                    cmd: Some(cmd.into_iter().map(String::from).collect()),
                    ..ImageConfigSpec::default()
                },
                created: 0,
            })),
            ..write("", "i")
        };
        assert_ne!(
            image(vec!["ab", "c"]).key(&no_inputs),
            image(vec!["a", "bc"]).key(&no_inputs)
        );
    }
}
