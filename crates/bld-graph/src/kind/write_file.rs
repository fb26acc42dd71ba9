//! [`WriteFile`]: bytes given at analysis, written to a file.

use serde::{Deserialize, Serialize};

use crate::{Input, InputIdentity, KeyEncoder, Kind};

/// Writes `content` to a file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WriteFile {
    /// The bytes.
    pub content: Vec<u8>,
    /// Whether the file is executable (mode 0755 rather than 0644 when packed).
    pub executable: bool,
}

impl Kind for WriteFile {
    fn encode_key(&self, key: &mut KeyEncoder, _: &dyn Fn(&Input) -> InputIdentity) {
        let WriteFile {
            content,
            executable,
        } = self;
        key.tag("write_file");
        key.bytes(content);
        key.bool(*executable);
    }

    fn inputs<'a>(&'a self, _: &mut Vec<&'a Input>) {}

    fn describe(&self) -> String {
        format!("write {} bytes", self.content.len())
    }
}
