//! One repository of one registry over HTTP(S): manifests and blobs, the bearer token a
//! registry's `WWW-Authenticate` challenge asks for, retries of what failed on the way.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use bld_core::ImageReference;
use ureq::http::StatusCode;

/// A registry's answer.
type Response = ureq::http::Response<ureq::Body>;

use crate::RegistryError;
use crate::config::{Config, config};
use crate::credentials::{self, Credentials};

mod auth;
mod transfer;

pub use transfer::Sent;

/// Docker Hub's API host, for `docker.io`.
const DOCKER_HUB: &str = "registry-1.docker.io";
/// Attempts after the first for a request that failed on the way or with 429 or 5xx.
const RETRIES: u32 = 4;

/// A repository of a registry, and the agent that talks to it.
pub struct Endpoint {
    /// The registry's host and port, as the reference (or a mirror's URL) names it.
    pub host: String,
    /// The repository in it (`library/busybox`, `team/app`).
    pub repository: String,
    /// `https://HOST` or `http://HOST` once known.
    base: OnceLock<String>,
    /// How to find the base: its scheme fixed, or HTTPS with plain HTTP allowed if the
    /// registry does not speak TLS (loopback and insecure registries, as Docker allows).
    scheme: Scheme,
    /// Where the API is (Docker Hub's for `docker.io`).
    api: String,
    agent: ureq::Agent,
    credentials: Option<Credentials>,
    /// The `Authorization` header the registry's challenge asked for, once it asked.
    authorization: Mutex<Option<String>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Https,
    Http,
    HttpsOrHttp,
}

/// `request`, with `authorization` as its `Authorization` header when there is one.
fn authorize<B>(
    request: ureq::RequestBuilder<B>,
    authorization: Option<&str>,
) -> ureq::RequestBuilder<B> {
    match authorization {
        Some(authorization) => request.header("Authorization", authorization),
        None => request,
    }
}

/// The value of the header `name` of `response`, or `""`.
fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Whether `host` (with its port, if any) is on the loopback interface.
fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => host.split(':').next().unwrap_or(host),
    };
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether a request that failed this way may succeed when sent again: a connection refused,
/// dropped or timed out (not a name that does not resolve).
fn transient(error: &ureq::Error) -> bool {
    use std::io::ErrorKind::{
        BrokenPipe, ConnectionAborted, ConnectionRefused, ConnectionReset, TimedOut, UnexpectedEof,
    };
    match error {
        ureq::Error::Io(e) => matches!(
            e.kind(),
            BrokenPipe
                | ConnectionAborted
                | ConnectionRefused
                | ConnectionReset
                | TimedOut
                | UnexpectedEof
        ),
        ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed => true,
        _ => false,
    }
}

/// Whether the TLS handshake failed on the registry's certificate.
fn certificate_refused(error: &ureq::Error) -> bool {
    // rustls' own error, or the same passed up through the TLS stream as an I/O error.
    matches!(error, ureq::Error::Rustls(_) | ureq::Error::Io(_))
        && error.to_string().contains("certificate")
}

/// How long to wait before attempt `attempt + 1`: the registry's `Retry-After` (seconds, at
/// most a minute), else 250 ms doubled each time.
fn backoff(attempt: u32, response: Option<&Response>) -> Duration {
    response
        .and_then(|r| header(r, "retry-after").trim().parse::<u64>().ok())
        .map_or(Duration::from_millis(250 << attempt), |s| {
            Duration::from_secs(s.min(60))
        })
}

/// The registry host and the repository `reference` names.
fn split(reference: &ImageReference) -> Result<(&str, &str), RegistryError> {
    reference.name.split_once('/').ok_or_else(|| {
        RegistryError::Unsupported(format!("`{}` names no registry", reference.name))
    })
}

/// Refuses a registry the settings block.
fn refuse_blocked(host: &str) -> Result<(), RegistryError> {
    let config = config()?;
    if !config.is_blocked(host) {
        return Ok(());
    }
    Err(RegistryError::Registry {
        registry: host.to_owned(),
        message: format!(
            "this registry is blocked by `blocked-registries` in {}",
            config
                .path
                .as_ref()
                .map_or("bld's configuration".to_owned(), |p| p
                    .display()
                    .to_string())
        ),
    })
}

/// The bases (`https://HOST`, `http://HOST`) found for hosts of this process.
static BASES: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());

impl Endpoint {
    /// The repository `reference` names, at its registry.
    ///
    /// # Errors
    ///
    /// `config.json` or bld's configuration cannot be read.
    pub fn of(reference: &ImageReference) -> Result<Endpoint, RegistryError> {
        let (host, repository) = split(reference)?;
        refuse_blocked(host)?;
        Endpoint::new(host, repository, None, credentials::lookup(host)?)
    }

    /// The repository `reference` names at each mirror configured for its registry, in order,
    /// then at the registry itself unless it is blocked.
    ///
    /// # Errors
    ///
    /// As [`Endpoint::of`].
    pub fn with_mirrors(reference: &ImageReference) -> Result<Vec<Endpoint>, RegistryError> {
        let (host, repository) = split(reference)?;
        let mut endpoints = Vec::new();
        for mirror in config()?.mirrors_of(host) {
            let (scheme, mirror_host) = match mirror.split_once("://") {
                Some(("http", rest)) => (Some(Scheme::Http), rest),
                Some(("https", rest)) => (Some(Scheme::Https), rest),
                Some(_) => {
                    return Err(RegistryError::Unsupported(format!(
                        "the mirror `{mirror}` of {host} is not an http:// or https:// URL"
                    )));
                }
                None => (None, mirror.as_str()),
            };
            let mirror_host = mirror_host.trim_end_matches('/');
            let credentials = credentials::lookup(mirror_host)?;
            endpoints.push(Endpoint::new(mirror_host, repository, scheme, credentials)?);
        }
        if endpoints.is_empty() || !config()?.is_blocked(host) {
            endpoints.push(Endpoint::of(reference)?);
        }
        Ok(endpoints)
    }

    /// Another repository of this endpoint's registry, through the same agent, credentials
    /// and scheme (no certificates read or registry asked again).
    pub fn sibling(&self, repository: &str) -> Endpoint {
        let base = OnceLock::new();
        if let Some(known) = self.base.get() {
            let _ = base.set(known.clone());
        }
        Endpoint {
            host: self.host.clone(),
            repository: repository.to_owned(),
            base,
            scheme: self.scheme,
            api: self.api.clone(),
            agent: self.agent.clone(),
            credentials: self.credentials.clone(),
            authorization: Mutex::new(None),
        }
    }

    /// The registry `host` itself (for `bld login`), with `credentials`.
    ///
    /// # Errors
    ///
    /// bld's configuration cannot be read.
    pub fn registry(host: &str, credentials: Credentials) -> Result<Endpoint, RegistryError> {
        refuse_blocked(host)?;
        Endpoint::new(host, "", None, Some(credentials))
    }

    fn new(
        host: &str,
        repository: &str,
        scheme: Option<Scheme>,
        credentials: Option<Credentials>,
    ) -> Result<Endpoint, RegistryError> {
        let config: &Config = config()?;
        let insecure = config.is_insecure(host);
        let scheme = scheme.unwrap_or(if insecure || is_loopback(host) {
            Scheme::HttpsOrHttp
        } else {
            Scheme::Https
        });
        let api = match host {
            "docker.io" | "index.docker.io" => DOCKER_HUB,
            _ => host,
        };
        Ok(Endpoint {
            host: host.to_owned(),
            repository: repository.to_owned(),
            base: OnceLock::new(),
            scheme,
            api: api.to_owned(),
            agent: crate::tls::agent(host, config, !insecure)?,
            credentials,
            authorization: Mutex::new(None),
        })
    }

    /// `https://HOST` or `http://HOST`: for a registry that may be either, HTTPS unless the
    /// registry does not speak TLS (asked once per host and process, with `GET /v2/`).
    fn base(&self) -> Result<&str, RegistryError> {
        if let Some(base) = self.base.get() {
            return Ok(base);
        }
        let base = match self.scheme {
            Scheme::Https => format!("https://{}", self.api),
            Scheme::Http => format!("http://{}", self.api),
            Scheme::HttpsOrHttp => {
                let known = BASES
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&self.api)
                    .cloned();
                match known {
                    Some(base) => base,
                    None => {
                        let base = self.probe()?;
                        BASES
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(self.api.clone(), base.clone());
                        base
                    }
                }
            }
        };
        Ok(self.base.get_or_init(|| base))
    }

    /// HTTPS when the registry answers over it, plain HTTP when it does not speak TLS; a
    /// certificate the registry presents and nothing trusts is refused, not bypassed.
    fn probe(&self) -> Result<String, RegistryError> {
        match self.agent.get(format!("https://{}/v2/", self.api)).call() {
            Ok(_) => Ok(format!("https://{}", self.api)),
            Err(e) if certificate_refused(&e) => Err(self.untrusted(&e)),
            Err(_) => Ok(format!("http://{}", self.api)),
        }
    }

    fn untrusted(&self, error: &ureq::Error) -> RegistryError {
        let config = config().ok();
        let dir = config
            .and_then(|c| c.certs_dirs.first())
            .map_or("/etc/docker/certs.d".to_owned(), |d| {
                d.display().to_string()
            });
        self.failed(format!(
            "the registry's certificate is not trusted ({error}): put the CA that signed it in \
             {dir}/{}/ca.crt, or list {} in `insecure-registries` in {}",
            self.host,
            self.host,
            crate::config::config_file().map_or("bld's configuration".to_owned(), |p| p
                .display()
                .to_string())
        ))
    }

    /// What the registry sent that does not match what was expected.
    pub(crate) fn mismatch(&self, what: String, detail: String) -> RegistryError {
        RegistryError::Mismatch {
            registry: self.host.clone(),
            what,
            detail,
        }
    }

    fn failed(&self, message: String) -> RegistryError {
        RegistryError::Registry {
            registry: self.host.clone(),
            message,
        }
    }

    /// `GET /v2/<repository>/<path>`.
    fn get(&self, path: &str, accept: Option<&str>) -> Result<Response, RegistryError> {
        self.get_path(&format!("/v2/{}/{path}", self.repository), accept)
    }

    /// `GET <path>`, authorized as [`Endpoint::authorized`] does.
    fn get_path(&self, path: &str, accept: Option<&str>) -> Result<Response, RegistryError> {
        let url = format!("{}{path}", self.base()?);
        self.authorized(|authorization| {
            let mut request = self.agent.get(&url);
            if let Some(accept) = accept {
                request = request.header("Accept", accept);
            }
            authorize(request, authorization).call()
        })
    }

    /// `send`, sent again after a pause (see [`backoff`]) while it fails on the way or the
    /// registry answers 429 or 5xx, [`RETRIES`] times at most.
    fn retrying(
        &self,
        send: impl Fn() -> Result<Response, ureq::Error>,
    ) -> Result<Response, RegistryError> {
        let mut attempt = 0;
        loop {
            let result = send();
            let retry = match &result {
                Ok(r) => {
                    r.status().is_server_error() || r.status() == StatusCode::TOO_MANY_REQUESTS
                }
                Err(e) => transient(e),
            };
            if !retry || attempt == RETRIES {
                return result.map_err(|e| self.unreachable(&e));
            }
            std::thread::sleep(backoff(attempt, result.as_ref().ok()));
            attempt += 1;
        }
    }

    fn unreachable(&self, error: &ureq::Error) -> RegistryError {
        if certificate_refused(error) {
            return self.untrusted(error);
        }
        self.failed(format!("cannot reach the registry: {error}"))
    }

    /// Refuses a response whose status is not 200, saying what it means for `what`.
    fn expect_ok(&self, response: &Response, what: &str) -> Result<(), RegistryError> {
        match response.status() {
            StatusCode::OK => Ok(()),
            StatusCode::NOT_FOUND => Err(self.failed(format!("{what} not found"))),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(self.failed(format!(
                "access to {what} is denied (status {}){}",
                response.status().as_u16(),
                if self.credentials.is_some() {
                    format!(": the credentials for {} were refused", self.host)
                } else {
                    format!(": log in first (`bld login {}`)", self.host)
                }
            ))),
            status => Err(self.failed(format!(
                "{what}: the registry answered with status {}",
                status.as_u16()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_loopback_hosts_are_reached_over_plain_http() {
        for host in [
            "127.0.0.1:5000",
            "127.1.2.3",
            "localhost:5000",
            "[::1]:5000",
            "localhost",
        ] {
            assert!(super::is_loopback(host), "{host}");
        }
        for host in [
            "127.example.com:5000",
            "localhost.example:5000",
            "10.0.0.1:5000",
            "docker.io",
        ] {
            assert!(!super::is_loopback(host), "{host}");
        }
    }
}
