//! A client of a Bazel Remote Execution API v2 cache (BuildGrid, bazel-remote, Buildbarn…),
//! through `bazel-remote-apis`' generated stubs on tonic: `Capabilities`, the `ActionCache`
//! (`GetActionResult`, `UpdateActionResult`), the CAS (`FindMissingBlobs`, `BatchReadBlobs`,
//! `BatchUpdateBlobs`) and `ByteStream` `Read`/`Write` for blobs over the server's batch limit.
//! Calls block (a runtime of this client's own runs them) and time out: a slow server is a
//! failed call, never a stuck build.

use std::io::Write;
use std::time::Duration;

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use bazel_remote_apis::google::bytestream as bs;
use prost::Message as _;
use re::action_cache_client::ActionCacheClient;
use re::capabilities_client::CapabilitiesClient;
use re::content_addressable_storage_client::ContentAddressableStorageClient;
use sha2::Digest as _;

/// How long one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// A batch request's own bytes beyond its blobs' (names, digests, framing), kept free.
const BATCH_OVERHEAD: i64 = 64 * 1024;

/// A connected REAPI cache.
pub struct Reapi {
    runtime: tokio::runtime::Runtime,
    channel: tonic::transport::Channel,
    instance: String,
    headers: Vec<(String, String)>,
    /// The server's `max_batch_total_size_bytes` (4 MiB when it says none).
    max_batch: i64,
    /// Whether the server takes `UpdateActionResult` (its capabilities say).
    updates: bool,
}

/// A REAPI digest: sha256 hex and size.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobDigest {
    /// Lower-case hex of the sha256.
    pub hash: String,
    /// The blob's size in bytes.
    pub size: i64,
}

impl BlobDigest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> BlobDigest {
        BlobDigest {
            hash: hex::encode(sha2::Sha256::digest(bytes)),
            size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
        }
    }

    fn proto(&self) -> re::Digest {
        re::Digest {
            hash: self.hash.clone(),
            size_bytes: self.size,
        }
    }

    fn from_proto(digest: &re::Digest) -> BlobDigest {
        BlobDigest {
            hash: digest.hash.clone(),
            size: digest.size_bytes,
        }
    }
}

/// What an upload sends: a blob's digest and where its bytes are.
pub enum Upload {
    /// Bytes in memory.
    Bytes(BlobDigest, Vec<u8>),
    /// A file.
    File(BlobDigest, std::path::PathBuf),
}

impl Upload {
    fn digest(&self) -> &BlobDigest {
        match self {
            Upload::Bytes(digest, _) | Upload::File(digest, _) => digest,
        }
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        match self {
            Upload::Bytes(_, bytes) => Ok(bytes.clone()),
            Upload::File(_, path) => {
                std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
            }
        }
    }
}

/// The Action and Command a bld action stands as on the server (see `crates/README.md`): a
/// Command `bld action KEY` with no inputs, its one output the record. The Action's digest is
/// the ActionCache's key; the Command and the empty input root are blobs to upload with it.
pub fn action_for(key_hex: &str) -> (BlobDigest, Vec<Upload>) {
    let command = re::Command {
        arguments: vec!["bld".to_owned(), "action".to_owned(), key_hex.to_owned()],
        output_paths: vec!["record.json".to_owned()],
        ..Default::default()
    }
    .encode_to_vec();
    let root = re::Directory::default().encode_to_vec();
    let action = re::Action {
        command_digest: Some(BlobDigest::of(&command).proto()),
        input_root_digest: Some(BlobDigest::of(&root).proto()),
        ..Default::default()
    }
    .encode_to_vec();
    let digest = BlobDigest::of(&action);
    let uploads = vec![
        Upload::Bytes(BlobDigest::of(&command), command),
        Upload::Bytes(BlobDigest::of(&root), root),
        Upload::Bytes(digest.clone(), action),
    ];
    (digest, uploads)
}

fn status(what: &str) -> impl Fn(tonic::Status) -> String + '_ {
    move |status| format!("{what}: {} ({:?})", status.message(), status.code())
}

impl Reapi {
    /// Connects to `url` (`grpc://HOST:PORT`, `http://…`) and asks its capabilities.
    pub fn connect(
        url: &str,
        instance: &str,
        headers: &[(String, String)],
    ) -> Result<Reapi, String> {
        let address = match url.strip_prefix("grpc://") {
            Some(rest) => format!("http://{rest}"),
            None if url.starts_with("http://") => url.to_owned(),
            None => return Err(format!("`{url}`: expected grpc://HOST:PORT")),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime: {e}"))?;
        let endpoint = tonic::transport::Endpoint::from_shared(address)
            .map_err(|e| format!("`{url}`: {e}"))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(CALL_TIMEOUT);
        let channel = runtime
            .block_on(endpoint.connect())
            .map_err(|e| format!("cannot connect to {url}: {e}"))?;
        let mut client = Reapi {
            runtime,
            channel,
            instance: instance.to_owned(),
            headers: headers.to_vec(),
            max_batch: 4 * 1024 * 1024,
            updates: true,
        };
        let request = client.request(re::GetCapabilitiesRequest {
            instance_name: client.instance.clone(),
        });
        let capabilities = client
            .runtime
            .block_on(CapabilitiesClient::new(client.channel.clone()).get_capabilities(request))
            .map_err(status("GetCapabilities"))?
            .into_inner();
        if let Some(cache) = capabilities.cache_capabilities {
            if cache.max_batch_total_size_bytes > 0 {
                client.max_batch = cache.max_batch_total_size_bytes;
            }
            if cache
                .action_cache_update_capabilities
                .is_some_and(|u| !u.update_enabled)
            {
                client
                    .headers
                    .push(("x-bld-no-updates".to_owned(), "1".to_owned()));
            }
        }
        Ok(client)
    }

    /// Whether the server refuses `UpdateActionResult` (its capabilities say so).
    pub fn read_only(&self) -> bool {
        !self.updates
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        for (key, value) in &self.headers {
            if let (Ok(key), Ok(value)) = (
                key.parse::<tonic::metadata::MetadataKey<tonic::metadata::Ascii>>(),
                value.parse(),
            ) {
                request.metadata_mut().insert(key, value);
            }
        }
        request
    }

    /// The output files of the cached result of `action`: `(path, digest)` each; `None` when
    /// the cache has none.
    pub fn action_result(
        &self,
        action: &BlobDigest,
    ) -> Result<Option<Vec<(String, BlobDigest)>>, String> {
        let request = self.request(re::GetActionResultRequest {
            instance_name: self.instance.clone(),
            action_digest: Some(action.proto()),
            ..Default::default()
        });
        let answer = self
            .runtime
            .block_on(ActionCacheClient::new(self.channel.clone()).get_action_result(request));
        match answer {
            Ok(result) => Ok(Some(
                result
                    .into_inner()
                    .output_files
                    .iter()
                    .filter_map(|f| {
                        Some((f.path.clone(), BlobDigest::from_proto(f.digest.as_ref()?)))
                    })
                    .collect(),
            )),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(other) => Err(status("GetActionResult")(other)),
        }
    }

    /// Writes the blob `digest` to `out`: in one batch read when it fits the server's
    /// limit, else streamed with `ByteStream.Read`.
    pub fn read_blob(&self, digest: &BlobDigest, out: &mut dyn Write) -> Result<(), String> {
        if digest.size + BATCH_OVERHEAD <= self.max_batch {
            let request = self.request(re::BatchReadBlobsRequest {
                instance_name: self.instance.clone(),
                digests: vec![digest.proto()],
                ..Default::default()
            });
            let answer = self
                .runtime
                .block_on(
                    ContentAddressableStorageClient::new(self.channel.clone())
                        .batch_read_blobs(request),
                )
                .map_err(status("BatchReadBlobs"))?
                .into_inner();
            let response = answer
                .responses
                .into_iter()
                .next()
                .ok_or_else(|| "BatchReadBlobs answered nothing".to_owned())?;
            if let Some(status) = response.status.filter(|s| s.code != 0) {
                return Err(format!(
                    "BatchReadBlobs: {} (code {})",
                    status.message, status.code
                ));
            }
            return out.write_all(&response.data).map_err(|e| e.to_string());
        }
        let resource = format!("{}blobs/{}/{}", self.prefix(), digest.hash, digest.size);
        let request = self.request(bs::ReadRequest {
            resource_name: resource,
            read_offset: 0,
            read_limit: 0,
        });
        self.runtime.block_on(async {
            let mut stream = bs::byte_stream_client::ByteStreamClient::new(self.channel.clone())
                .read(request)
                .await
                .map_err(status("ByteStream.Read"))?
                .into_inner();
            let mut read = 0;
            while let Some(chunk) = stream.message().await.map_err(status("ByteStream.Read"))? {
                read += chunk.data.len() as i64;
                if read > digest.size {
                    return Err("ByteStream.Read sent more than the blob's size".to_owned());
                }
                out.write_all(&chunk.data).map_err(|e| e.to_string())?;
            }
            Ok(())
        })
    }

    /// `INSTANCE/` when there is an instance name, else nothing.
    fn prefix(&self) -> String {
        if self.instance.is_empty() {
            String::new()
        } else {
            format!("{}/", self.instance)
        }
    }

    /// Uploads what of `blobs` the CAS lacks (in batches, or streamed over the batch limit),
    /// then records `outputs` as the result of `action`.
    pub fn upload(
        &self,
        action: &BlobDigest,
        blobs: &[Upload],
        outputs: &[(String, BlobDigest)],
    ) -> Result<(), String> {
        let request = self.request(re::FindMissingBlobsRequest {
            instance_name: self.instance.clone(),
            blob_digests: blobs.iter().map(|b| b.digest().proto()).collect(),
            ..Default::default()
        });
        let missing: Vec<BlobDigest> = self
            .runtime
            .block_on(
                ContentAddressableStorageClient::new(self.channel.clone())
                    .find_missing_blobs(request),
            )
            .map_err(status("FindMissingBlobs"))?
            .into_inner()
            .missing_blob_digests
            .iter()
            .map(BlobDigest::from_proto)
            .collect();
        let mut batch: Vec<re::batch_update_blobs_request::Request> = Vec::new();
        let mut batch_size = 0;
        for blob in blobs.iter().filter(|b| missing.contains(b.digest())) {
            let digest = blob.digest();
            if digest.size + BATCH_OVERHEAD > self.max_batch {
                self.write_stream(digest, &blob.bytes()?)?;
                continue;
            }
            if batch_size + digest.size + BATCH_OVERHEAD > self.max_batch {
                self.send_batch(std::mem::take(&mut batch))?;
                batch_size = 0;
            }
            batch_size += digest.size;
            batch.push(re::batch_update_blobs_request::Request {
                digest: Some(digest.proto()),
                data: blob.bytes()?,
                compressor: 0,
            });
        }
        if !batch.is_empty() {
            self.send_batch(batch)?;
        }
        let request = self.request(re::UpdateActionResultRequest {
            instance_name: self.instance.clone(),
            action_digest: Some(action.proto()),
            action_result: Some(re::ActionResult {
                output_files: outputs
                    .iter()
                    .map(|(path, digest)| re::OutputFile {
                        path: path.clone(),
                        digest: Some(digest.proto()),
                        ..Default::default()
                    })
                    .collect(),
                exit_code: 0,
                ..Default::default()
            }),
            ..Default::default()
        });
        self.runtime
            .block_on(ActionCacheClient::new(self.channel.clone()).update_action_result(request))
            .map_err(status("UpdateActionResult"))?;
        Ok(())
    }

    fn send_batch(
        &self,
        requests: Vec<re::batch_update_blobs_request::Request>,
    ) -> Result<(), String> {
        let request = self.request(re::BatchUpdateBlobsRequest {
            instance_name: self.instance.clone(),
            requests,
            ..Default::default()
        });
        let answer = self
            .runtime
            .block_on(
                ContentAddressableStorageClient::new(self.channel.clone())
                    .batch_update_blobs(request),
            )
            .map_err(status("BatchUpdateBlobs"))?
            .into_inner();
        match answer
            .responses
            .iter()
            .find_map(|r| r.status.as_ref().filter(|s| s.code != 0))
        {
            Some(failed) => Err(format!(
                "BatchUpdateBlobs: {} (code {})",
                failed.message, failed.code
            )),
            None => Ok(()),
        }
    }

    /// `ByteStream.Write` of `bytes` (the blob `digest`) in 1 MiB chunks.
    fn write_stream(&self, digest: &BlobDigest, bytes: &[u8]) -> Result<(), String> {
        static UPLOADS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let number = UPLOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let uuid = BlobDigest::of(format!("{}-{nanos}-{number}", std::process::id()).as_bytes())
            .hash[..32]
            .to_owned();
        let resource = format!(
            "{}uploads/{uuid}/blobs/{}/{}",
            self.prefix(),
            digest.hash,
            digest.size
        );
        let chunks: Vec<bs::WriteRequest> = bytes
            .chunks(1 << 20)
            .enumerate()
            .map(|(i, chunk)| bs::WriteRequest {
                resource_name: if i == 0 {
                    resource.clone()
                } else {
                    String::new()
                },
                write_offset: (i as i64) << 20,
                finish_write: (i + 1) << 20 >= bytes.len(),
                data: chunk.to_vec(),
            })
            .collect();
        let request = self.request(tokio_stream::iter(chunks));
        self.runtime
            .block_on(
                bs::byte_stream_client::ByteStreamClient::new(self.channel.clone()).write(request),
            )
            .map_err(status("ByteStream.Write"))?;
        Ok(())
    }
}
