//! How a build runs, beyond what it builds: the settings its flags give.

use bld_store::Store;

use super::{BuildArgs, cache, reapi, secrets};
use crate::Failure;
use crate::progress::ProgressMode;

/// How a build runs, beyond what it builds.
#[derive(Default)]
pub(crate) struct BuildSettings {
    /// How the build log is shown.
    pub(crate) progress: ProgressMode,
    /// Ignore the action cache (`--no-cache`).
    pub(crate) no_cache: bool,
    /// Go on past failures (`--keep-going`).
    pub(crate) keep_going: bool,
    /// `--explain[=FILE]`.
    pub(crate) explain: Option<Option<std::path::PathBuf>>,
    /// Every RUN step gets the host's network.
    pub(crate) host_network: bool,
    /// Secrets by id: the files holding them.
    pub(crate) secrets: secrets::Secrets,
    /// SSH agent sockets by id.
    pub(crate) ssh_agents: std::collections::HashMap<String, std::path::PathBuf>,
    /// Resolve every registry tag again (`--pull`).
    pub(crate) pull: bool,
    /// Refuse a change to the lock file (`--locked`).
    pub(crate) locked: bool,
    /// Where to export the build's cache (`--cache-to`).
    pub(crate) cache_to: Vec<cache::CacheTo>,
    /// Caches to use (`--cache-from`).
    pub(crate) cache_from: Vec<cache::CacheLocation>,
    /// The REAPI cache (`--remote-cache`).
    pub(crate) remote: reapi::RemoteSettings,
}

impl BuildSettings {
    /// Which actions ignore the action cache: all of them with `--no-cache`, else none.
    pub(crate) fn ignore_cache(&self) -> &'static (dyn Fn(&bld_graph::Action) -> bool + Sync) {
        if self.no_cache {
            &|_| true
        } else {
            &bld_exec::use_cache
        }
    }

    /// The settings the command line asks for.
    pub(crate) fn from_args(args: &BuildArgs, store: &Store) -> Result<BuildSettings, Failure> {
        let secrets = secrets::Secrets::from_args(&args.secret, store)?;
        let ssh_agents = secrets::ssh_agents(&args.ssh)?;
        Ok(BuildSettings {
            progress: args.progress_mode(),
            no_cache: args.no_cache,
            keep_going: args.keep_going,
            explain: args.explain.clone(),
            host_network: host_network(&args.network)?,
            secrets,
            ssh_agents,
            pull: args.pull,
            locked: args.locked,
            cache_to: cache::parse_cache_to(&args.cache_to)?,
            cache_from: cache::parse_cache_from(&args.cache_from)?,
            remote: reapi::RemoteSettings::from_flags(
                args.remote_cache.as_deref(),
                &args.remote_instance_name,
                &args.remote_header,
                args.remote_upload_local_results,
            )?,
        })
    }
}

/// `--add-host NAME:IP` (or `NAME=IP`) values as `(name, address)`, as Docker reads them: the
/// name before the first separator, an IPv4 or IPv6 address after it.
pub(crate) fn extra_hosts(given: &[String]) -> Result<Vec<(String, String)>, Failure> {
    given
        .iter()
        .map(|text| {
            let split = text.split_once('=').or_else(|| text.split_once(':'));
            match split {
                Some((name, address))
                    if !name.is_empty()
                        && address
                            .trim_matches(|c| c == '[' || c == ']')
                            .parse::<std::net::IpAddr>()
                            .is_ok() =>
                {
                    let address = address.trim_matches(|c| c == '[' || c == ']');
                    Ok((name.to_owned(), address.to_owned()))
                }
                _ => Err(Failure::user(format!(
                    "invalid --add-host `{text}`: expected NAME:IP, such as db:10.0.0.5"
                ))),
            }
        })
        .collect()
}

/// `--network`: whether RUN steps get the host's network.
pub(crate) fn host_network(mode: &str) -> Result<bool, Failure> {
    match mode {
        "host" => Ok(true),
        "none" | "default" => Ok(false),
        other => Err(Failure::user(format!(
            "--network `{other}`: expected `none` or `host`"
        ))),
    }
}

/// `SOURCE_DATE_EPOCH`: the time every built file and image carries (0 when unset).
pub(crate) fn source_date_epoch() -> Result<u64, Failure> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) if !text.is_empty() => text.trim().parse().map_err(|_| {
            Failure::user(format!(
                "SOURCE_DATE_EPOCH=`{text}`: expected a number of seconds since 1970"
            ))
        }),
        _ => Ok(0),
    }
}
