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
    /// The `created_by` of each new layer's history entry.
    pub created_by: Vec<String>,
    /// `linux`.
    pub os: String,
    /// GOARCH-style architecture (`amd64`, `arm64`).
    pub architecture: String,
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
