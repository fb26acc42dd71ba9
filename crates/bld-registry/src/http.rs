//! One repository of one registry over HTTP: manifests and blobs, and the bearer token a
//! registry's `WWW-Authenticate` challenge asks for.

use std::io::{Read, Write};
use std::sync::Mutex;
use std::time::Duration;

use bld_core::{Digest, ImageReference};
use ureq::http::StatusCode;

/// A registry's answer.
type Response = ureq::http::Response<ureq::Body>;

use crate::credentials::{self, Credentials};
use crate::{MANIFEST_TYPES, MAX_MANIFEST, RegistryError};

/// A repository of a registry, and the agent that talks to it.
pub struct Endpoint {
    /// The registry's host and port, as the reference names it.
    pub host: String,
    /// The repository in it (`library/busybox`, `team/app`).
    pub repository: String,
    base: String,
    agent: ureq::Agent,
    credentials: Option<Credentials>,
    /// The `Authorization` header the registry's challenge asked for, once it asked.
    authorization: Mutex<Option<String>>,
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

impl Endpoint {
    /// Whether bld reaches the registry `reference` names (one on this machine, so far).
    pub fn reaches(reference: &ImageReference) -> bool {
        reference
            .name
            .split_once('/')
            .is_some_and(|(host, _)| is_loopback(host))
    }

    /// The repository `reference` names.
    ///
    /// # Errors
    ///
    /// A registry off the loopback interface: those are reached over HTTPS, which bld does not
    /// speak yet.
    pub fn of(reference: &ImageReference) -> Result<Endpoint, RegistryError> {
        let (host, repository) = reference.name.split_once('/').ok_or_else(|| {
            RegistryError::Unsupported(format!("`{}` names no registry", reference.name))
        })?;
        if !is_loopback(host) {
            return Err(RegistryError::Unsupported(format!(
                "cannot pull `{}`: bld reaches only registries on this machine so far \
                 (`localhost:PORT/…`, `127.0.0.1:PORT/…`, over plain HTTP); `{host}` needs \
                 HTTPS, which is not supported yet",
                reference.familiar()
            )));
        }
        Endpoint::new(host, repository, credentials::lookup(host)?)
    }

    /// The registry `host` itself (for `bld login`), with `credentials`.
    ///
    /// # Errors
    ///
    /// A registry off the loopback interface, as [`Endpoint::of`].
    pub fn registry(host: &str, credentials: Credentials) -> Result<Endpoint, RegistryError> {
        if !is_loopback(host) {
            return Err(RegistryError::Unsupported(format!(
                "cannot log in to `{host}`: bld reaches only registries on this machine so far \
                 (`localhost:PORT`, `127.0.0.1:PORT`, over plain HTTP)"
            )));
        }
        Endpoint::new(host, "", Some(credentials))
    }

    fn new(
        host: &str,
        repository: &str,
        credentials: Option<Credentials>,
    ) -> Result<Endpoint, RegistryError> {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(600)))
            .build()
            .into();
        Ok(Endpoint {
            host: host.to_owned(),
            repository: repository.to_owned(),
            base: format!("http://{host}"),
            agent,
            credentials,
            authorization: Mutex::new(None),
        })
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
        let url = format!("{}{path}", self.base);
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
        let send = |authorization: Option<&str>| {
            send(authorization).map_err(|e| self.failed(format!("cannot reach the registry: {e}")))
        };
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

    /// Whether the repository holds the blob `digest` (`HEAD`).
    pub fn has_blob(&self, digest: &Digest) -> Result<bool, RegistryError> {
        let url = format!("{}/v2/{}/blobs/{digest}", self.base, self.repository);
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
        let start = format!("{}/v2/{}/blobs/uploads/", self.base, self.repository);
        let response = self.authorized(|authorization| {
            let request = self.agent.post(&start);
            authorize(request, authorization).send_empty()
        })?;
        if response.status() != StatusCode::ACCEPTED {
            self.expect_ok(&response, &what)?;
        }
        let location = header(&response, "location");
        let location = if location.starts_with('/') {
            format!("{}{location}", self.base)
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
        let url = format!("{}/v2/{}/manifests/{tag}", self.base, self.repository);
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
        let params = challenge.strip_prefix("Bearer ").ok_or_else(denied)?;
        let param = |key: &str| {
            params.split(',').find_map(|pair| {
                let (k, v) = pair.trim().split_once('=')?;
                (k == key).then(|| v.trim_matches('"').to_owned())
            })
        };
        let realm = param("realm").ok_or_else(denied)?;
        let mut request = self.agent.get(&realm);
        if let Some(credentials) = &self.credentials {
            request = request.header("Authorization", credentials.basic());
        }
        for key in ["service", "scope"] {
            if let Some(value) = param(key) {
                request = request.query(key, value);
            }
        }
        let mut response = request
            .call()
            .map_err(|e| self.failed(format!("cannot reach the token service {realm}: {e}")))?;
        if response.status() != StatusCode::OK {
            return Err(denied());
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

    /// Streams the blob `digest` into `out`, reading at most one byte more than `size`.
    pub fn blob(
        &self,
        digest: &Digest,
        size: u64,
        out: &mut dyn Write,
    ) -> Result<(), RegistryError> {
        let what = format!("the blob {digest} of {}", self.repository);
        let response = self.get(&format!("blobs/{digest}"), None)?;
        self.expect_ok(&response, &what)?;
        let mut body = response
            .into_body()
            .into_with_config()
            .limit(size + 1)
            .reader();
        std::io::copy(&mut body.by_ref(), out)
            .map_err(|e| self.failed(format!("downloading {what}: {e}")))?;
        Ok(())
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
