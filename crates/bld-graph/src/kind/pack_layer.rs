//! [`PackLayer`]: files, directories, links and archives packed into a deterministic layer.

use serde::{Deserialize, Serialize};

use crate::{Below, Input, InputIdentity, KeyEncoder, Kind};

/// Packs files into a deterministic, compressed layer tar.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PackLayer {
    /// Entries, by their path inside the tar. Missing parent directories are added (0755,
    /// owned by root).
    pub entries: Vec<LayerEntry>,
    /// The mtime of every entry (`SOURCE_DATE_EPOCH`).
    pub mtime: u64,
    /// When the entries were planned before the image below was known: how they are placed
    /// once it is.
    pub below: Option<Below>,
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

impl Kind for PackLayer {
    fn encode_key(&self, key: &mut KeyEncoder, identity: &dyn Fn(&Input) -> InputIdentity) {
        let PackLayer {
            entries,
            mtime,
            below,
        } = self;
        // `/2`: gzip members are cut only past 1 MiB (the layer's bytes changed).
        key.tag("pack_layer/2");
        key.u64(*mtime);
        key.u64(entries.len() as u64);
        for entry in entries {
            let LayerEntry {
                path,
                content,
                uid,
                gid,
            } = entry;
            key.str(path);
            key.u64((*uid).into());
            key.u64((*gid).into());
            content.encode_key(key, identity);
        }
        // Encoded only when present, so layers that need no probe keep their keys.
        if let Some(below) = below {
            below.encode_key(key, identity);
        }
    }

    fn inputs<'a>(&'a self, inputs: &mut Vec<&'a Input>) {
        inputs.extend(self.entries.iter().filter_map(|e| match &e.content {
            EntryContent::File { input, .. } | EntryContent::Archive { input } => Some(input),
            EntryContent::Dir { .. } | EntryContent::Symlink { .. } => None,
        }));
        inputs.extend(self.below.as_ref().map(|below| &below.landing));
    }

    fn describe(&self) -> String {
        format!("pack {} entries", self.entries.len())
    }
}

impl EntryContent {
    fn encode_key(&self, key: &mut KeyEncoder, identity: &dyn Fn(&Input) -> InputIdentity) {
        match self {
            EntryContent::File { input, mode } => {
                key.tag("file");
                let input = identity(input);
                key.digest(&input.digest);
                // Only the bits the mode rule reads are part of the key.
                let (tag, bits) = match mode {
                    FileMode::Exact(bits) => ("exact", *bits),
                    FileMode::KeepExecutableBit => ("keep-x", input.mode & 0o100),
                    FileMode::KeepPermissions => ("keep", input.mode & 0o7777),
                };
                key.tag(tag);
                key.u64(bits.into());
            }
            EntryContent::Dir { mode } => {
                key.tag("dir");
                key.u64((*mode).into());
            }
            EntryContent::Symlink { target } => {
                key.tag("symlink");
                key.str(target);
            }
            EntryContent::Archive { input } => {
                key.tag("archive");
                key.digest(&identity(input).digest);
            }
        }
    }
}
