//! [`ActionKey`]: the sha256 of a canonical, versioned encoding of an action.
//!
//! The encoding is a sequence of tagged, length-prefixed fields written straight into the
//! hasher. It covers the action's kind, every parameter, and the identity (content digest and
//! executable bit) of every input, never paths of the checkout, mtimes, or the action's owner.
//! Changing the encoding means bumping [`KEY_VERSION`], which invalidates every cached result.

use std::fmt;

use bld_core::Digest;
use sha2::{Digest as _, Sha256};

use crate::{Action, Input};

/// Bumped whenever the encoding below, or the output an action produces for a given key,
/// changes.
pub const KEY_VERSION: &str = "bld-action-key-v5";

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

/// Writes an action's canonical encoding into the hasher: every value is tagged or
/// length-prefixed, so no two different actions encode to the same bytes.
pub struct KeyEncoder(Sha256);

impl KeyEncoder {
    /// A name that says what follows (a kind, a mount type).
    pub fn tag(&mut self, tag: &str) {
        self.str(tag);
    }
    /// A number, little-endian.
    pub fn u64(&mut self, value: u64) {
        self.0.update(value.to_le_bytes());
    }
    /// Bytes, prefixed by their length.
    pub fn bytes(&mut self, bytes: &[u8]) {
        self.u64(bytes.len() as u64);
        self.0.update(bytes);
    }
    /// A string, prefixed by its length.
    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    /// A flag, one byte.
    pub fn bool(&mut self, b: bool) {
        self.0.update([u8::from(b)]);
    }
    /// A digest's 32 bytes.
    pub fn digest(&mut self, digest: &Digest) {
        self.0.update(digest.as_bytes());
    }
    /// An optional number: a presence flag, then the number.
    pub fn opt_u64(&mut self, value: Option<u64>) {
        self.bool(value.is_some());
        if let Some(v) = value {
            self.u64(v);
        }
    }
    /// An optional owner (uid, gid): as [`KeyEncoder::opt_u64`] of the uid above the gid.
    pub fn opt_owner(&mut self, owner: Option<(u32, u32)>) {
        self.opt_u64(owner.map(|(uid, gid)| (u64::from(uid) << 32) | u64::from(gid)));
    }
    /// An optional string: a presence flag, then the string.
    pub fn opt_str(&mut self, value: Option<&str>) {
        self.bool(value.is_some());
        if let Some(v) = value {
            self.str(v);
        }
    }
    /// Strings, prefixed by their count.
    pub fn strs(&mut self, values: &[String]) {
        self.u64(values.len() as u64);
        for v in values {
            self.str(v);
        }
    }
    /// Optional strings: a presence flag, then the strings.
    pub fn opt_strs(&mut self, values: Option<&[String]>) {
        self.bool(values.is_some());
        if let Some(v) = values {
            self.strs(v);
        }
    }
    /// Key-value pairs, prefixed by their count.
    pub fn pairs(&mut self, pairs: &[(String, String)]) {
        self.u64(pairs.len() as u64);
        for (k, v) in pairs {
            self.str(k);
            self.str(v);
        }
    }
    /// An input's identity: its digest and its permission bits.
    pub fn input(&mut self, identity: InputIdentity) {
        self.digest(&identity.digest);
        self.u64(identity.mode.into());
    }
}

impl Action {
    /// This action's key, given the identity of each of its inputs.
    pub fn key(&self, identity: &dyn Fn(&Input) -> InputIdentity) -> ActionKey {
        let mut key = KeyEncoder(Sha256::new());
        key.tag(KEY_VERSION);
        self.kind.as_kind().encode_key(&mut key, identity);
        ActionKey(Digest::from_bytes(key.0.finalize().into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bld_core::Label;

    fn write(content: &str, owner: &str) -> Action {
        Action {
            owner: Label::new("p", owner).expect("label"),
            output_name: owner.into(),
            origin: None,
            kind: crate::ActionKind::WriteFile(crate::WriteFile {
                content: content.as_bytes().to_vec(),
                executable: false,
            }),
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
            kind: crate::ActionKind::AssembleImage(Box::new(crate::AssembleImage {
                base: None,
                layers: vec![],
                config: crate::ImageConfigSpec {
                    cmd: Some(cmd.into_iter().map(String::from).collect()),
                    ..crate::ImageConfigSpec::default()
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
