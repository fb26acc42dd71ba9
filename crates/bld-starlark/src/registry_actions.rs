//! `ctx.actions.pull` and `ctx.actions.push`: the primitives of `oci_pull` and `oci_push`.

use bld_core::{ImageReference, host_platform};
use bld_graph::{ActionKind, PullImage, PushImage};
use starlark::environment::MethodsBuilder;
use starlark::eval::Evaluator;
use starlark::values::Value;
use starlark::values::list_or_tuple::UnpackListOrTuple;
use starlark::values::none::NoneOr;
use starlark_derive::starlark_module;

use crate::actions::{artifact_of, context, input_of, this_actions};
use crate::values::{Artifact, ArtifactKind};

/// `OS/ARCH[/VARIANT]`, each part a plain word.
fn valid_platform(platform: &str) -> bool {
    let parts: Vec<&str> = platform.split('/').collect();
    (2..=3).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
}

/// The repository `image` names, in full, refusing a tag or digest in it.
fn repository(image: &str, what: &str) -> anyhow::Result<String> {
    let reference = ImageReference::parse(image)
        .map_err(|e| anyhow::anyhow!("`{what}`: `{image}` is not an image name: {e}"))?;
    if image.contains('@') || bld_core::split_tag(image).1.is_some() {
        anyhow::bail!(
            "`{what}` names a repository (`{}`); give its tag and digest apart",
            reference.name
        );
    }
    Ok(reference.name)
}

#[starlark_module]
pub(crate) fn registry_methods(builder: &mut MethodsBuilder) {
    /// An image of a registry, named `name`: the repository `image`, pinned to `digest` (a
    /// manifest or index digest), or by `tag`, which the build resolves once and records in the
    /// workspace's `bld.lock`; for `platform` (`OS/ARCH[/VARIANT]`, this machine's by default).
    ///
    /// ```python
    /// base = ctx.actions.pull(name = "base", image = "docker.io/library/debian", tag = "12")
    /// ```
    fn pull<'v>(
        this: Value<'v>,
        #[starlark(require = named)] name: &str,
        #[starlark(require = named)] image: &str,
        #[starlark(require = named, default = NoneOr::None)] digest: NoneOr<String>,
        #[starlark(require = named, default = NoneOr::None)] tag: NoneOr<String>,
        #[starlark(require = named, default = NoneOr::None)] platform: NoneOr<String>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Artifact> {
        let owner = &this_actions(this).owner;
        let image = repository(image, "image")?;
        let digest = match digest.into_option().filter(|d| !d.is_empty()) {
            Some(text) => Some(text.parse().map_err(|_| {
                anyhow::anyhow!("`digest` must be `sha256:` and 64 hex digits, got `{text}`")
            })?),
            None => None,
        };
        let tag = tag.into_option().filter(|t| !t.is_empty());
        if digest.is_none() && tag.is_none() {
            anyhow::bail!("`{image}` needs a `digest` or a `tag`");
        }
        if let Some(tag) = &tag
            && ImageReference::parse(&format!("{image}:{tag}")).is_err()
        {
            anyhow::bail!("`tag` `{tag}` is not a valid tag");
        }
        let platform = match platform.into_option().filter(|p| !p.is_empty()) {
            Some(platform) if valid_platform(&platform) => platform,
            Some(platform) => anyhow::bail!(
                "`platform` must be OS/ARCH[/VARIANT] such as \"linux/arm64\", got \"{platform}\""
            ),
            None => {
                let (os, architecture) = host_platform();
                format!("{os}/{architecture}")
            }
        };
        let kind = ActionKind::PullImage(PullImage {
            image,
            tag,
            digest,
            platform,
        });
        context(eval)?.declare(owner, name, ArtifactKind::Image, kind)
    }

    /// `image` (an image File), to be pushed to `repository` as each of `remote_tags` by
    /// `bld run` of the target; building it builds the image.
    ///
    /// ```python
    /// out = ctx.actions.push(name = "push", image = image, repository = "registry.example/app",
    ///     remote_tags = ["1.0", "latest"])
    /// ```
    fn push<'v>(
        this: Value<'v>,
        #[starlark(require = named)] name: &str,
        #[starlark(require = named)] image: Value<'v>,
        #[starlark(require = named)] repository: &str,
        #[starlark(require = named, default = UnpackListOrTuple::default())]
        remote_tags: UnpackListOrTuple<String>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Artifact> {
        let owner = &this_actions(this).owner;
        let image = input_of(
            artifact_of(image, "`image`")?,
            "`image`",
            ArtifactKind::Image,
        )?;
        let repository = self::repository(repository, "repository")?;
        let tags = if remote_tags.items.is_empty() {
            vec!["latest".to_owned()]
        } else {
            remote_tags.items
        };
        for tag in &tags {
            if ImageReference::parse_tag(&format!("{repository}:{tag}")).is_err() {
                anyhow::bail!("`remote_tags`: `{tag}` is not a valid tag");
            }
        }
        let kind = ActionKind::PushImage(PushImage {
            image,
            repository,
            tags,
        });
        context(eval)?.declare(owner, name, ArtifactKind::Image, kind)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn platforms_are_os_arch_and_an_optional_variant() {
        for good in ["linux/amd64", "linux/arm64/v8", "windows/amd64"] {
            assert!(super::valid_platform(good), "{good}");
        }
        for bad in [
            "linux",
            "linux/",
            "/amd64",
            "linux/arm/v7/x",
            "linux/am d64",
        ] {
            assert!(!super::valid_platform(bad), "{bad}");
        }
    }
}
