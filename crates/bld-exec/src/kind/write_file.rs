//! [`WriteFile`]: the bytes into the store.

use bld_graph::WriteFile;

use super::{Execute, Run};
use crate::{ActionOutput, Failure};

impl Execute for WriteFile {
    fn execute(&self, run: &Run<'_>) -> Result<ActionOutput, Failure> {
        let (digest, size) = run.store().put_bytes(&self.content).map_err(Failure::of)?;
        Ok(ActionOutput::File {
            digest,
            size,
            executable: self.executable,
        })
    }
}
