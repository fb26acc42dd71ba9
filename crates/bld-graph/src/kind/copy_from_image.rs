//! [`CopyFromImage`]: `COPY --from=<stage>` over a built image's filesystem.

use serde::{Deserialize, Serialize};

use crate::{Input, InputIdentity, KeyEncoder, Kind, LandingOf};

/// Copies files out of an image's filesystem into a layer: Docker's `COPY` rules, applied to
/// an image.
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
    /// `--chown` by name: the owner is the user its probed landing found.
    pub chown_from_landing: bool,
    /// `--chmod`.
    pub chmod: Option<u32>,
    /// The mtime of every entry (`SOURCE_DATE_EPOCH`).
    pub mtime: u64,
    /// Where the destination lands in the copying stage's filesystem (`None`: on nothing,
    /// the first instruction over `scratch`).
    pub landing: Option<LandingOf>,
}

impl Kind for CopyFromImage {
    fn encode_key(&self, key: &mut KeyEncoder, identity: &dyn Fn(&Input) -> InputIdentity) {
        let CopyFromImage {
            image,
            sources,
            dest,
            workdir,
            excludes,
            parents,
            chown,
            chown_from_landing,
            chmod,
            mtime,
            landing,
        } = self;
        // The tag names the rules the executor applies: `/2` keeps the image's owners and
        // makes implied directories 0755, `/3` cuts gzip members only past 1 MiB (a new tag
        // invalidates only this kind's results).
        key.tag("copy_from_image/3");
        key.input(identity(image));
        key.strs(sources);
        key.str(dest);
        key.str(workdir);
        key.strs(excludes);
        key.bool(*parents);
        key.opt_owner(*chown);
        key.opt_u64(chmod.map(u64::from));
        key.u64(*mtime);
        if let Some(landing) = landing {
            landing.encode_key(key, identity);
        }
        if *chown_from_landing {
            key.tag("chown_from_landing");
        }
    }

    fn inputs<'a>(&'a self, inputs: &mut Vec<&'a Input>) {
        inputs.push(&self.image);
        if let Some(LandingOf::Probed(input)) = &self.landing {
            inputs.push(input);
        }
    }

    fn describe(&self) -> String {
        format!("COPY --from {} {}", self.sources.join(" "), self.dest)
    }
}
