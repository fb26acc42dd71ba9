//! One repository of one registry over HTTP(S): manifests and blobs, the bearer token a
//! registry's `WWW-Authenticate` challenge asks for, retries of what failed on the way.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use bld_core::{Digest, ImageReference};
use ureq::http::StatusCode;

/// A registry's answer.
type Response = ureq::http::Response<ureq::Body>;

use crate::config::{Config, config};
use crate::credentials::{self, Credentials};
use crate::{MANIFEST_TYPES, MAX_MANIFEST, RegistryError};

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

/// The bases (`https://HOST`, `http://HOST`) found for hosts of this process.
static BASES: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());

impl Endpoint {
    /// Whether bld reaches the registry `reference` names (every name has one: `docker.io`
    /// unless it says otherwise).
    pub fn reaches(reference: &ImageReference) -> bool {
        reference.name.contains('/')
    }

    /// The repository `reference` names, at its registry.
    ///
    /// # Errors
    ///
    /// `config.json` or bld's configuration cannot be read.
    pub fn of(reference: &ImageReference) -> Result<Endpoint, RegistryError> {
        let (host, repository) = split(reference)?;
        Endpoint::new(host, repository, None, credentials::lookup(host)?)
    }

    /// The repository `reference` names at each mirror configured for its registry, in order,
    /// then at the registry itself.
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
        endpoints.push(Endpoint::of(reference)?);
        Ok(endpoints)
    }

    /// The registry `host` itself (for `bld login`), with `credentials`.
    ///
    /// # Errors
    ///
    /// bld's configuration cannot be read.
    pub fn registry(host: &str, credentials: Credentials) -> Result<Endpoint, RegistryError> {
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

    /// Checks the endpoint's credentials against the registry (`GET /v2/`, as `docker login`).
    pub fn check_login(&self) -> Result<(), RegistryError> {
        let response = self.get_path("/v2/", None)?;
        match response.status() {
            StatusCode::OK => Ok(()),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(self.failed("unauthorized: incorrect username or password".to_owned()))
            }
            status => Err(self.failed(format!(
                "the registry answered the login with status {}",
                status.as_u16()
            ))),
        }
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

    /// Sends a request (`send` builds it with an `Authorization` header, or none) with the
    /// authorization the registry's challenge asked for once it asked: basic credentials, or a
    /// bearer token for the challenge's scope fetched with them (or anonymously). A new
    /// challenge (a push after pulls wants a wider scope) is answered once more.
    fn authorized(
        &self,
        send: impl Fn(Option<&str>) -> Result<Response, ureq::Error>,
    ) -> Result<Response, RegistryError> {
        let send = |authorization: Option<&str>| self.retrying(|| send(authorization));
        let known = self
            .authorization
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let response = send(known.as_deref())?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = header(&response, "www-authenticate");
        let authorization = if challenge.starts_with("Basic") {
            match &self.credentials {
                Some(credentials) => credentials.basic(),
                None => return Ok(response),
            }
        } else if challenge.starts_with("Bearer ") {
            format!("Bearer {}", self.bearer_token(&challenge)?)
        } else {
            return Ok(response);
        };
        if known.as_ref() == Some(&authorization) {
            return Ok(response);
        }
        *self.authorization.lock().unwrap_or_else(|p| p.into_inner()) = Some(authorization.clone());
        send(Some(&authorization))
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

    /// Whether the repository holds the blob `digest` (`HEAD`).
    pub fn has_blob(&self, digest: &Digest) -> Result<bool, RegistryError> {
        let url = format!("{}/v2/{}/blobs/{digest}", self.base()?, self.repository);
        let response = self.authorized(|authorization| {
            let request = self.agent.head(&url);
            authorize(request, authorization).call()
        })?;
        match response.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => self
                .expect_ok(&response, &format!("the blob {digest}"))
                .map(|()| false),
        }
    }

    /// Uploads the file `path` as the blob `digest`: a session (`POST`), then the whole blob in
    /// one `PUT` that names its digest, which the registry checks.
    pub fn upload_blob(
        &self,
        digest: &Digest,
        path: &std::path::Path,
    ) -> Result<(), RegistryError> {
        let what = format!("the upload of {digest} to {}", self.repository);
        let base = self.base()?;
        let start = format!("{base}/v2/{}/blobs/uploads/", self.repository);
        let response = self.authorized(|authorization| {
            let request = self.agent.post(&start);
            authorize(request, authorization).send_empty()
        })?;
        if response.status() != StatusCode::ACCEPTED {
            self.expect_ok(&response, &what)?;
        }
        let location = header(&response, "location");
        let location = if location.starts_with('/') {
            format!("{base}{location}")
        } else {
            location
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={digest}");
        let response = self.authorized(|authorization| {
            let file = std::fs::File::open(path).map_err(ureq::Error::Io)?;
            let request = self
                .agent
                .put(&url)
                .header("Content-Type", "application/octet-stream");
            authorize(request, authorization).send(file)
        })?;
        match response.status() {
            StatusCode::CREATED | StatusCode::NO_CONTENT | StatusCode::OK => Ok(()),
            _ => self.expect_ok(&response, &what),
        }
    }

    /// Puts `manifest` (of `media_type`) as `tag`.
    pub fn put_manifest(
        &self,
        tag: &str,
        manifest: &[u8],
        media_type: &str,
    ) -> Result<(), RegistryError> {
        let url = format!("{}/v2/{}/manifests/{tag}", self.base()?, self.repository);
        let response = self.authorized(|authorization| {
            let request = self.agent.put(&url).header("Content-Type", media_type);
            authorize(request, authorization).send(manifest)
        })?;
        match response.status() {
            StatusCode::CREATED | StatusCode::OK => Ok(()),
            _ => self.expect_ok(
                &response,
                &format!("the manifest {}:{tag}", self.repository),
            ),
        }
    }

    /// The anonymous token a `Bearer realm="…",service="…",scope="…"` challenge names.
    fn bearer_token(&self, challenge: &str) -> Result<String, RegistryError> {
        let denied = || self.failed(format!("access to {} is denied", self.repository));
        let params = challenge_params(challenge.strip_prefix("Bearer ").ok_or_else(denied)?);
        let param = |key: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.clone())
        };
        let realm = param("realm").ok_or_else(denied)?;
        let mut response = self
            .retrying(|| {
                let mut request = self.agent.get(&realm);
                if let Some(credentials) = &self.credentials {
                    request = request.header("Authorization", credentials.basic());
                }
                for key in ["service", "scope"] {
                    if let Some(value) = param(key) {
                        request = request.query(key, value);
                    }
                }
                request.call()
            })
            .map_err(|e| self.failed(format!("the token service {realm}: {e}")))?;
        if response.status() != StatusCode::OK {
            return Err(match (&self.credentials, response.status()) {
                (Some(_), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => self.failed(
                    "unauthorized: incorrect username or password (the token service refused them)"
                        .to_owned(),
                ),
                _ => denied(),
            });
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_MANIFEST)
            .read_to_vec()
            .map_err(|e| self.failed(format!("the token service {realm} failed: {e}")))?;
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        ["token", "access_token"]
            .iter()
            .find_map(|k| value.get(*k).and_then(|t| t.as_str()).map(str::to_owned))
            .ok_or_else(denied)
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

    /// The manifest (or index) `reference` (a tag or a digest) names, and its media type.
    pub fn manifest(&self, reference: &str) -> Result<(Vec<u8>, String), RegistryError> {
        let what = format!("{}:{reference}", self.repository);
        let what = if reference.contains(':') {
            format!("{}@{reference}", self.repository)
        } else {
            what
        };
        let mut response = self.get(
            &format!("manifests/{reference}"),
            Some(&MANIFEST_TYPES.join(", ")),
        )?;
        self.expect_ok(&response, &what)?;
        let media_type = header(&response, "content-type");
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_MANIFEST)
            .read_to_vec()
            .map_err(|e| self.failed(format!("reading the manifest of {what}: {e}")))?;
        Ok((bytes, media_type))
    }

    /// Streams the blob `digest` into `out`, at most one byte more than `size`; a transfer
    /// cut short is resumed where it stopped (a range request; a registry that ignores the
    /// range sends the whole blob again, and what `out` has is skipped).
    pub fn blob(
        &self,
        digest: &Digest,
        size: u64,
        out: &mut dyn Write,
    ) -> Result<(), RegistryError> {
        let what = format!("the blob {digest} of {}", self.repository);
        let url = format!("{}/v2/{}/blobs/{digest}", self.base()?, self.repository);
        let mut written = 0;
        let mut attempt = 0;
        loop {
            let response = self.authorized(|authorization| {
                let mut request = self.agent.get(&url);
                if written > 0 {
                    request = request.header("Range", format!("bytes={written}-"));
                }
                authorize(request, authorization).call()
            })?;
            let skip = match response.status() {
                StatusCode::PARTIAL_CONTENT if written > 0 => 0,
                _ => {
                    self.expect_ok(&response, &what)?;
                    written
                }
            };
            let body = response.into_body().into_with_config().limit(u64::MAX);
            match copy_at_most(&mut body.reader(), skip, size + 1, &mut written, out) {
                Ok(()) => return Ok(()),
                Err(Cut::Read(_)) if attempt < RETRIES => {
                    std::thread::sleep(backoff(attempt, None));
                    attempt += 1;
                }
                Err(Cut::Read(e)) => {
                    return Err(self.failed(format!("downloading {what}: {e}")));
                }
                Err(Cut::Write(e)) => {
                    return Err(self.failed(format!("storing {what}: {e}")));
                }
            }
        }
    }
}

/// The `key=value` pairs of a challenge (`realm="…",service="…",scope="repository:a:pull,push"`):
/// values quoted or not, commas inside quotes kept, `\"` unescaped (RFC 7235's auth-params).
fn challenge_params(text: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ',' || c.is_whitespace()).is_some() {}
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ','))
            .collect::<String>()
            .trim()
            .to_owned();
        if key.is_empty() {
            return params;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'=').is_some() {
            if chars.next_if_eq(&'"').is_some() {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => value.extend(chars.next()),
                        c => value.push(c),
                    }
                }
            } else {
                value = std::iter::from_fn(|| chars.next_if(|c| *c != ','))
                    .collect::<String>()
                    .trim()
                    .to_owned();
            }
        }
        params.push((key, value));
    }
}

/// Why a copy stopped short.
enum Cut {
    Read(std::io::Error),
    Write(std::io::Error),
}

/// Copies `body` to `out` after skipping `skip` bytes of it, counting in `written` what `out`
/// has, until the end of `body` or `limit` bytes in `out`.
fn copy_at_most(
    body: &mut dyn Read,
    mut skip: u64,
    limit: u64,
    written: &mut u64,
    out: &mut dyn Write,
) -> Result<(), Cut> {
    let mut buffer = vec![0; 256 << 10];
    while *written < limit {
        let n = match body.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Cut::Read(e)),
        };
        let dropped = usize::try_from(skip).unwrap_or(usize::MAX).min(n);
        skip -= dropped as u64;
        let wanted = usize::try_from(limit - *written).unwrap_or(usize::MAX);
        let chunk = &buffer[dropped..n.min(dropped + wanted)];
        out.write_all(chunk).map_err(Cut::Write)?;
        *written += chunk.len() as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn challenges_keep_commas_inside_quotes() {
        let params = super::challenge_params(
            r#"realm="https://auth.example/token",service=registry.example, scope="repository:team/app:pull,push",error="a \"b\"""#,
        );
        let pairs: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("realm", "https://auth.example/token"),
                ("service", "registry.example"),
                ("scope", "repository:team/app:pull,push"),
                ("error", "a \"b\""),
            ]
        );
    }

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
