//! Manifests and blobs: fetched (a blob streamed, resumed where a transfer was cut), asked for
//! (`HEAD`), uploaded or mounted from another repository, and manifests put.

use std::io::{Read, Write};

use bld_core::Digest;
use ureq::http::StatusCode;

use super::{Endpoint, RETRIES, authorize, backoff, header};
use crate::{MANIFEST_TYPES, MAX_MANIFEST, RegistryError};

/// How a blob reached a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Its bytes were sent.
    Uploaded,
    /// The registry mounted it from another of its repositories.
    Mounted,
}

impl Endpoint {
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

    /// Uploads the file `path` as the blob `digest`, or mounts it from the repository
    /// `mount_from` of the same registry when given and the registry can: a session (`POST`),
    /// then the whole blob in one `PUT` that names its digest, which the registry checks. A
    /// session the registry lost (it restarted) is started again once.
    pub fn upload_blob(
        &self,
        digest: &Digest,
        path: &std::path::Path,
        mount_from: Option<&str>,
        on_bytes: &(dyn Fn(u64) + Sync),
    ) -> Result<Sent, RegistryError> {
        let what = format!("the upload of {digest} to {}", self.repository);
        let base = self.base()?;
        let mut start = format!("{base}/v2/{}/blobs/uploads/", self.repository);
        if let Some(from) = mount_from {
            start.push_str(&format!("?mount={digest}&from={from}"));
        }
        let mut attempt = 0;
        loop {
            let response = self.authorized(|authorization| {
                let request = self.agent.post(&start);
                authorize(request, authorization).send_empty()
            })?;
            match response.status() {
                StatusCode::CREATED if mount_from.is_some() => return Ok(Sent::Mounted),
                StatusCode::ACCEPTED => {}
                _ => self.expect_ok(&response, &what)?,
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
                let size = file.metadata().map_err(ureq::Error::Io)?.len();
                let request = self
                    .agent
                    .put(&url)
                    .header("Content-Type", "application/octet-stream")
                    .header("Content-Length", size.to_string());
                let mut counted = Counted {
                    inner: file,
                    read: 0,
                    on_bytes,
                };
                authorize(request, authorization).send(ureq::SendBody::from_reader(&mut counted))
            })?;
            match response.status() {
                StatusCode::CREATED | StatusCode::NO_CONTENT | StatusCode::OK => {
                    return Ok(Sent::Uploaded);
                }
                StatusCode::NOT_FOUND if attempt == 0 => attempt += 1,
                _ => return self.expect_ok(&response, &what).map(|()| Sent::Uploaded),
            }
        }
    }

    /// The repository's tags (`GET /v2/<name>/tags/list`, every page).
    pub fn tags(&self) -> Result<Vec<String>, RegistryError> {
        let path = format!("/v2/{}/tags/list?n=1000", self.repository);
        let what = format!("the tags of {}", self.repository);
        self.pages(&path, &what, "tags")
    }

    /// The registry's repositories (`GET /v2/_catalog`, every page).
    pub fn catalog(&self) -> Result<Vec<String>, RegistryError> {
        self.pages("/v2/_catalog?n=1000", "the catalog", "repositories")
    }

    /// The strings of `key` in each page of a paginated list, from `path` on (following each
    /// `Link: <…>; rel="next"`, as the distribution spec pages `tags/list` and `_catalog`).
    fn pages(&self, path: &str, what: &str, key: &str) -> Result<Vec<String>, RegistryError> {
        let mut items = Vec::new();
        let mut next = Some(path.to_owned());
        while let Some(path) = next.take() {
            let mut response = self.get_path(&path, None)?;
            self.expect_ok(&response, what)?;
            let link = header(&response, "link");
            let body = response
                .body_mut()
                .with_config()
                .limit(MAX_MANIFEST)
                .read_to_vec()
                .map_err(|e| self.failed(format!("reading {what}: {e}")))?;
            let value: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| self.mismatch(what.to_owned(), format!("not JSON: {e}")))?;
            items.extend(
                value
                    .get(key)
                    .and_then(serde_json::Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_owned)),
            );
            next = link
                .split(',')
                .find(|l| l.contains("rel=\"next\""))
                .and_then(|l| Some(l.split_once('<')?.1.split_once('>')?.0.to_owned()))
                .map(|url| {
                    url.strip_prefix(self.base().unwrap_or_default())
                        .unwrap_or(&url)
                        .to_owned()
                })
                .filter(|_| items.len() < 100_000);
        }
        Ok(items)
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
        on_bytes: &dyn Fn(u64),
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
            match copy_at_most(
                &mut body.reader(),
                skip,
                size + 1,
                &mut written,
                out,
                on_bytes,
            ) {
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

/// A reader that says how much it has given.
struct Counted<'a, R> {
    inner: R,
    read: u64,
    on_bytes: &'a (dyn Fn(u64) + Sync),
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        (self.on_bytes)(self.read);
        Ok(n)
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
    on_bytes: &dyn Fn(u64),
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
        on_bytes(*written);
    }
    Ok(())
}
