//! [`AssembleImage`]: an image's config and manifest, from a base, layers and settings.

use bld_core::ImageConfigSpec;
use serde::{Deserialize, Serialize};

use crate::{Input, InputIdentity, KeyEncoder, Kind};

/// Builds an image (config and manifest) from a base image, layers and configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssembleImage {
    /// The image this one extends; `None` is `scratch`.
    pub base: Option<Input>,
    /// Layers appended to the base's, in order.
    pub layers: Vec<Input>,
    /// Configuration applied over the base's.
    pub config: ImageConfigSpec,
    /// The image's creation time in seconds since the epoch (`SOURCE_DATE_EPOCH`).
    pub created: u64,
}

impl Kind for AssembleImage {
    fn encode_key(&self, key: &mut KeyEncoder, identity: &dyn Fn(&Input) -> InputIdentity) {
        let AssembleImage {
            base,
            layers,
            config,
            created,
        } = self;
        key.tag("assemble_image");
        match base {
            Some(base) => {
                key.bool(true);
                key.input(identity(base));
            }
            None => key.bool(false),
        }
        key.u64(layers.len() as u64);
        for layer in layers {
            key.input(identity(layer));
        }
        key.u64(*created);
        encode_config(key, config);
    }

    fn inputs<'a>(&'a self, inputs: &mut Vec<&'a Input>) {
        inputs.extend(self.base.iter().chain(&self.layers));
    }

    fn describe(&self) -> String {
        format!("image of {} layers", self.layers.len())
    }
}

fn encode_config(key: &mut KeyEncoder, config: &ImageConfigSpec) {
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
        args_escaped,
        history,
        os,
        architecture,
    } = config;
    key.pairs(env);
    key.opt_strs(cmd.as_deref());
    key.opt_strs(entrypoint.as_deref());
    key.opt_str(workdir.as_deref());
    key.opt_str(user.as_deref());
    key.pairs(labels);
    key.strs(exposed_ports);
    key.strs(volumes);
    key.opt_str(stop_signal.as_deref());
    match healthcheck {
        Some(bld_core::Healthcheck {
            test,
            interval_ns,
            timeout_ns,
            start_period_ns,
            start_interval_ns,
            retries,
        }) => {
            key.bool(true);
            key.strs(test);
            for ns in [interval_ns, timeout_ns, start_period_ns, start_interval_ns] {
                key.u64(*ns);
            }
            key.u64((*retries).into());
        }
        None => key.bool(false),
    }
    key.strs(on_build);
    key.bool(*clear_on_build);
    key.opt_strs(shell.as_deref());
    key.opt_str(author.as_deref());
    key.bool(*args_escaped);
    key.u64(history.len() as u64);
    for bld_core::HistoryStep {
        created_by,
        empty_layer,
        comment,
    } in history
    {
        key.str(created_by);
        key.bool(*empty_layer);
        key.opt_str(comment.as_deref());
    }
    key.str(os);
    key.str(architecture);
}
