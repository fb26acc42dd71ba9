//! [`FetchDebFile`]: one file out of a Debian package, checked against a pinned sha256.

use bld_core::Digest;
use serde::{Deserialize, Serialize};

use crate::{Input, InputIdentity, KeyEncoder, Kind};

/// One file out of a Debian package, fetched from the machine's configured Debian archive
/// (`apt-get download`) and checked against a pinned sha256.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FetchDebFile {
    /// The package (`busybox-static`).
    pub package: String,
    /// Its exact version (`1:1.35.0-4+deb12u1+b1`).
    pub version: String,
    /// The `.deb`'s pinned sha256.
    pub sha256: Digest,
    /// The file inside the package (`bin/busybox`).
    pub path: String,
}

impl Kind for FetchDebFile {
    fn encode_key(&self, key: &mut KeyEncoder, _: &dyn Fn(&Input) -> InputIdentity) {
        let FetchDebFile {
            package,
            version,
            sha256,
            path,
        } = self;
        key.tag("fetch_deb_file");
        key.str(package);
        key.str(version);
        key.digest(sha256);
        key.str(path);
    }

    fn inputs<'a>(&'a self, _: &mut Vec<&'a Input>) {}

    fn describe(&self) -> String {
        format!("fetch {} {} `{}`", self.package, self.version, self.path)
    }
}
