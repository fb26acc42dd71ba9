//! Layer entries beyond files, directories and symbolic links, written as Docker's layer
//! writer (moby's `pkg/archive`) writes them: hard links (tar type `1`, naming an earlier
//! entry), FIFOs (type `6`), character and block devices (types `3` and `4`, with their
//! numbers), and the extended attributes a layer carries, as PAX `SCHILY.xattr.NAME` records.

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::{Entry, ItemKind};
use crate::OciError;

/// Whether a layer keeps the extended attribute `name`: only `security.capability` (file
/// capabilities, as `setcap` sets them), as Docker's and containerd's layer writers do
/// (moby's `ReadSecurityXattrToTarHeader`, containerd's `ChangeWriter`). Docker 20.10's
/// layers of a `RUN` that copied up a file with `user.k` and `security.capability`, of the
/// `ADD` of an archive holding both, and of a `COPY --from` of that file hold only the
/// capability, though its overlay directories hold both.
pub fn carries_xattr(name: &str) -> bool {
    name == "security.capability"
}

/// Appends the PAX record set of those of `xattrs` a layer carries (sorted by name) for the
/// entry that follows; nothing when there are none.
pub(super) fn append_xattrs<'x, W: Write>(
    tar: &mut tar::Builder<W>,
    xattrs: impl IntoIterator<Item = (&'x str, &'x [u8])>,
) -> io::Result<()> {
    let mut records: Vec<(String, &[u8])> = xattrs
        .into_iter()
        .filter(|(name, _)| carries_xattr(name))
        .map(|(name, value)| (format!("SCHILY.xattr.{name}"), value))
        .collect();
    if records.is_empty() {
        return Ok(());
    }
    records.sort();
    tar.append_pax_extensions(records.iter().map(|(key, value)| (key.as_str(), *value)))
}

/// Sets the type, mode and device numbers of a FIFO or device node.
pub(super) fn node_header(header: &mut tar::Header, kind: &ItemKind) -> io::Result<()> {
    match *kind {
        ItemKind::Device {
            block,
            major,
            minor,
            mode,
        } => {
            header.set_entry_type(if block {
                tar::EntryType::Block
            } else {
                tar::EntryType::Char
            });
            header.set_mode(mode);
            header.set_device_major(major)?;
            header.set_device_minor(minor)
        }
        ItemKind::Fifo { mode } => {
            header.set_entry_type(tar::EntryType::Fifo);
            header.set_mode(mode);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The mode of the regular file the hard link at `path` names, which must come before it.
pub(super) fn hard_link_mode(
    entries: &BTreeMap<&str, Entry<'_>>,
    path: &str,
    target: &str,
) -> Result<u32, OciError> {
    match entries.get(target) {
        Some(Entry {
            kind: ItemKind::File { mode, .. },
            ..
        }) if target < path => Ok(*mode),
        _ => Err(OciError::BadItem {
            path: path.to_owned(),
            reason: format!("its hard link target `{target}` is not a file before it"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use bld_store::Store;

    use crate::{ItemKind, LayerBlob, LayerItem, OciError, pack_layer};

    /// `path type mode uid:gid [-> link] [major,minor] [xattr=value…]` of each entry.
    fn listing(store: &Store, blob: &LayerBlob) -> Vec<String> {
        let gz = flate2::read::MultiGzDecoder::new(store.open_blob(&blob.digest).expect("blob"));
        let mut archive = tar::Archive::new(gz);
        let mut out = Vec::new();
        for entry in archive.entries().expect("entries") {
            let mut entry = entry.expect("entry");
            let mut line = {
                let h = entry.header();
                format!(
                    "{} {:?} {:o} {}:{}",
                    entry.path().expect("path").display(),
                    h.entry_type(),
                    h.mode().expect("mode"),
                    h.uid().expect("uid"),
                    h.gid().expect("gid"),
                )
            };
            if let Some(target) = entry.link_name().expect("link") {
                line.push_str(&format!(" -> {}", target.display()));
            }
            let h = entry.header();
            if let (Ok(Some(major)), Ok(Some(minor))) = (h.device_major(), h.device_minor())
                && (major, minor) != (0, 0)
            {
                line.push_str(&format!(" {major},{minor}"));
            }
            for record in entry.pax_extensions().expect("pax").into_iter().flatten() {
                let record = record.expect("record");
                let value = String::from_utf8_lossy(record.value_bytes()).into_owned();
                line.push_str(&format!(" {}={value}", record.key().expect("key")));
            }
            out.push(line);
        }
        out
    }

    fn item(path: &str, kind: ItemKind, xattrs: &[(&str, &str)]) -> LayerItem {
        LayerItem {
            path: path.to_owned(),
            kind,
            uid: 7,
            gid: 8,
            xattrs: xattrs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec()))
                .collect(),
        }
    }

    #[test]
    fn fifos_devices_hard_links_and_capabilities_are_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("store")).expect("store");
        let source = dir.path().join("content");
        std::fs::write(&source, "x\n").expect("write");
        let file = ItemKind::File {
            source,
            mode: 0o4755,
        };
        let link = |target: &str| ItemKind::HardLink {
            target: target.to_owned(),
        };
        let capability = ("security.capability", "cap");
        let items = [
            item("s/h2", link("s/h0"), &[capability]),
            item("s/h0", file, &[("user.k", "v"), capability]),
            item("s/h1", link("s/h0"), &[]),
            item("s/p", ItemKind::Fifo { mode: 0o644 }, &[]),
            item(
                "s/c",
                ItemKind::Device {
                    block: false,
                    major: 1,
                    minor: 3,
                    mode: 0o666,
                },
                &[("trusted.overlay.opaque", "y")],
            ),
            item(
                "s/b",
                ItemKind::Device {
                    block: true,
                    major: 7,
                    minor: 0,
                    mode: 0o660,
                },
                &[],
            ),
            item("s/st", ItemKind::Dir { mode: 0o1777 }, &[]),
        ];
        let blob = pack_layer(&store, &items, 0).expect("pack");
        assert_eq!(
            listing(&store, &blob),
            [
                "s/ Directory 755 0:0",
                "s/b Block 660 7:8 7,0",
                "s/c Char 666 7:8 1,3",
                "s/h0 Regular 4755 7:8 SCHILY.xattr.security.capability=cap",
                "s/h1 Link 4755 7:8 -> s/h0",
                "s/h2 Link 4755 7:8 -> s/h0 SCHILY.xattr.security.capability=cap",
                "s/p Fifo 644 7:8",
                "s/st/ Directory 1777 7:8",
            ]
        );
        let mut reversed = items.to_vec();
        reversed.reverse();
        assert_eq!(pack_layer(&store, &reversed, 0).expect("pack"), blob);
    }

    #[test]
    fn a_hard_link_must_name_a_file_before_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("store")).expect("store");
        let source = dir.path().join("content");
        std::fs::write(&source, "x\n").expect("write");
        let file = || ItemKind::File {
            source: source.clone(),
            mode: 0o644,
        };
        let link = |target: &str| ItemKind::HardLink {
            target: target.to_owned(),
        };
        let dir_d = item("d", ItemKind::Dir { mode: 0o755 }, &[]);
        for (items, refused) in [
            (vec![item("a", link("b"), &[]), item("b", file(), &[])], "a"),
            (vec![item("a", link("missing"), &[])], "a"),
            (vec![dir_d, item("e", link("d"), &[])], "e"),
        ] {
            let error = pack_layer(&store, &items, 0).expect_err("refused");
            assert!(
                matches!(&error, OciError::BadItem { path, .. } if path == refused),
                "{error}"
            );
        }
    }
}
