//! What an image target sets in its configuration, shared by the front-ends and the OCI writer.

/// Configuration an image sets over its base, in Docker's terms.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ImageConfigSpec {
    /// Variables set or replaced, in order.
    pub env: Vec<(String, String)>,
    /// `CMD`; `None` inherits the base's (cleared when `entrypoint` is set, as Docker does).
    pub cmd: Option<Vec<String>>,
    /// `ENTRYPOINT`; `None` inherits the base's.
    pub entrypoint: Option<Vec<String>>,
    /// `WORKDIR`.
    pub workdir: Option<String>,
    /// `USER`.
    pub user: Option<String>,
    /// Labels set or replaced.
    pub labels: Vec<(String, String)>,
    /// Ports such as `8080/tcp`.
    pub exposed_ports: Vec<String>,
    /// `VOLUME`s added.
    pub volumes: Vec<String>,
    /// `STOPSIGNAL`.
    pub stop_signal: Option<String>,
    /// `HEALTHCHECK`.
    pub healthcheck: Option<Healthcheck>,
    /// `ONBUILD` triggers added, in order.
    pub on_build: Vec<String>,
    /// Drop the base's `ONBUILD` triggers (they ran when this image was built on it).
    pub clear_on_build: bool,
    /// `SHELL`.
    pub shell: Option<Vec<String>>,
    /// `MAINTAINER`: the config's `author`.
    pub author: Option<String>,
    /// Set `ArgsEscaped` (Docker's flag, meaningful on Windows only, that the command line is
    /// already escaped), as BuildKit does for every Dockerfile `CMD`; `false` keeps the base's.
    pub args_escaped: bool,
    /// One history entry per step, in order; steps that are not `empty_layer` pair with the new
    /// layers, in order. Layers without a step get a generic entry.
    pub history: Vec<HistoryStep>,
    /// `linux`.
    pub os: String,
    /// GOARCH-style architecture (`amd64`, `arm64`).
    pub architecture: String,
}

/// One entry of an image's history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HistoryStep {
    /// What made it (`COPY app /app`, `bld: //pkg:layer`).
    pub created_by: String,
    /// Whether it changed only the config (no layer).
    pub empty_layer: bool,
    /// The entry's `comment`: which front-end wrote it (`bld.dockerfile.v0`), if any.
    pub comment: Option<String>,
}

/// Docker's `HEALTHCHECK` settings (durations in nanoseconds; 0 means the default).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", …]` or `["CMD-SHELL", command]`.
    pub test: Vec<String>,
    /// `--interval`.
    pub interval_ns: u64,
    /// `--timeout`.
    pub timeout_ns: u64,
    /// `--start-period`.
    pub start_period_ns: u64,
    /// `--start-interval`.
    pub start_interval_ns: u64,
    /// `--retries`.
    pub retries: u32,
}

/// The platform images are built for by default: `linux` and the host's architecture in Go's
/// spelling, as OCI configs use it.
pub fn host_platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    ("linux", arch)
}
