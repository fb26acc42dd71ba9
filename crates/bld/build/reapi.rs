//! `--remote-cache grpc://HOST:PORT` (Bazel's flags): the store's action cache backed by a
//! REAPI server's ActionCache and CAS. Each bld action is an Action whose Command is `bld
//! action KEY` (`bld_remote::action_for`); its ActionResult's output files are the action's
//! record with its key (`record.json`: `{"key": …, "output": …}`) and each blob the record
//! names (`blobs/<hex>`). A lookup reads the record (checked against its digest, and against
//! the key asked for: an entry holding another action's record is not taken); a hit's blobs
//! are fetched and checked by the executor. What runs here is uploaded in the background, and the uploads are finished (or
//! given up, with a warning) before bld exits. A server down or slow never fails a build.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use bld_core::Digest;
use bld_exec::{ActionOutput, RemoteCache};
use bld_remote::{BlobDigest, Reapi, Upload};
use bld_store::Store;

use crate::Failure;

/// `record.json` of `output`, the record of the action `key`: `{"key": …, "output": …}`.
fn keyed_record(key: &Digest, output: &ActionOutput) -> Option<Vec<u8>> {
    serde_json::to_vec(&serde_json::json!({"key": key.to_string(), "output": output})).ok()
}

/// The key and record `record.json` holds.
fn read_keyed_record(bytes: &[u8]) -> Option<(Digest, ActionOutput)> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let key = value.get("key")?.as_str()?.parse().ok()?;
    Some((
        key,
        serde_json::from_value(value.get_mut("output")?.take()).ok()?,
    ))
}

/// `--remote-cache` and the flags that go with it.
#[derive(Debug, Clone, Default)]
pub(crate) struct RemoteSettings {
    /// `grpc://HOST:PORT`.
    pub(crate) url: Option<String>,
    /// `--remote-instance-name`.
    pub(crate) instance: String,
    /// `--remote-header K=V`.
    pub(crate) headers: Vec<(String, String)>,
    /// `--remote-upload-local-results` (default true).
    pub(crate) upload: bool,
}

impl RemoteSettings {
    /// The settings the flags give; a header that is not `K=V` is refused.
    pub(crate) fn from_flags(
        url: Option<&str>,
        instance: &str,
        headers: &[String],
        upload: bool,
    ) -> Result<RemoteSettings, Failure> {
        let headers = headers
            .iter()
            .map(|header| {
                let bad = || {
                    Failure::user(format!(
                        "--remote-header `{header}`: expected NAME=VALUE (a name of letters, digits, `-`, `_` or `.`; a value of printable ASCII)"
                    ))
                };
                let (name, value) = header.split_once('=').ok_or_else(bad)?;
                let name_ok = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
                let value_ok = value.bytes().all(|b| (0x20..0x7f).contains(&b));
                if !(name_ok && value_ok) {
                    return Err(bad());
                }
                Ok((name.to_ascii_lowercase(), value.to_owned()))
            })
            .collect::<Result<_, _>>()?;
        if let Some(url) = url
            && !(url.starts_with("grpc://") || url.starts_with("http://"))
        {
            return Err(Failure::user(format!(
                "--remote-cache `{url}`: expected grpc://HOST:PORT (TLS, grpcs://, is not supported yet)"
            )));
        }
        Ok(RemoteSettings {
            url: url.map(str::to_owned),
            instance: instance.to_owned(),
            headers,
            upload,
        })
    }
}

type Job = Box<dyn FnOnce(&Reapi) -> Result<(), String> + Send>;

/// A REAPI server as the executor's remote cache.
pub(crate) struct RemoteReapi {
    client: Arc<Reapi>,
    url: String,
    upload: bool,
    /// The sizes of the blobs the looked-up results name.
    sizes: Mutex<HashMap<Digest, i64>>,
    warned: AtomicBool,
    uploads: Mutex<Option<mpsc::Sender<Job>>>,
    worker: Mutex<Option<std::thread::JoinHandle<Vec<String>>>>,
}

impl RemoteReapi {
    /// Connects to the server the settings name; `None` (with a warning) when there is none
    /// or it cannot be reached.
    pub(crate) fn connect(settings: &RemoteSettings) -> Option<RemoteReapi> {
        let url = settings.url.as_deref()?;
        let client = match Reapi::connect(url, &settings.instance, &settings.headers) {
            Ok(client) => Arc::new(client),
            Err(why) => {
                eprintln!("warning: --remote-cache {url}: {why}; building locally");
                return None;
            }
        };
        let (sender, receiver) = mpsc::channel::<Job>();
        let worker_client = Arc::clone(&client);
        let worker = std::thread::spawn(move || {
            receiver
                .into_iter()
                .filter_map(|job| job(&worker_client).err())
                .collect()
        });
        Some(RemoteReapi {
            upload: settings.upload && !client.read_only(),
            client,
            url: url.to_owned(),
            sizes: Mutex::new(HashMap::new()),
            warned: AtomicBool::new(false),
            uploads: Mutex::new(Some(sender)),
            worker: Mutex::new(Some(worker)),
        })
    }

    fn warn(&self, why: &str) {
        if !self.warned.swap(true, Ordering::SeqCst) {
            eprintln!(
                "warning: --remote-cache {}: {why}; building locally",
                self.url
            );
        }
    }
}

impl RemoteCache for RemoteReapi {
    fn lookup(&self, key: &Digest) -> Option<Vec<u8>> {
        let (action, _) = bld_remote::action_for(&key.hex());
        let outputs = match self.client.action_result(&action) {
            Ok(outputs) => outputs?,
            Err(why) => {
                self.warn(&why);
                return None;
            }
        };
        let (_, record_digest) = outputs.iter().find(|(path, _)| path == "record.json")?;
        let mut record = Vec::new();
        if let Err(why) = self.client.read_blob(record_digest, &mut record) {
            self.warn(&why);
            return None;
        }
        if BlobDigest::of(&record) != *record_digest {
            self.warn(&format!("the record of {key} does not match its digest"));
            return None;
        }
        // The record names its key: an entry of another action's result (an ActionCache that
        // lies, or was written to by someone else) is not taken.
        let output = match read_keyed_record(&record) {
            Some((held, output)) if held == *key => output,
            Some((held, _)) => {
                self.warn(&format!("the entry of {key} holds the record of {held}"));
                return None;
            }
            None => {
                self.warn(&format!("the entry of {key} is not a bld record"));
                return None;
            }
        };
        let mut sizes = self.sizes.lock().unwrap_or_else(|p| p.into_inner());
        for (path, digest) in &outputs {
            if let Some(Ok(blob)) = path
                .strip_prefix("blobs/")
                .map(|hex| format!("sha256:{hex}").parse::<Digest>())
            {
                sizes.insert(blob, digest.size);
            }
        }
        serde_json::to_vec(&output).ok()
    }

    fn fetch(&self, digest: &Digest, out: &mut dyn std::io::Write) -> Result<(), String> {
        let size = *self
            .sizes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(digest)
            .ok_or_else(|| "the result does not name it".to_owned())?;
        let blob = BlobDigest {
            hash: digest.hex(),
            size,
        };
        self.client.read_blob(&blob, out)
    }

    fn store_result(&self, key: &Digest, output: &ActionOutput, store: &Store) {
        if !self.upload {
            return;
        }
        let Some(record) = keyed_record(key, output) else {
            return;
        };
        let (action, mut blobs) = bld_remote::action_for(&key.hex());
        let record_digest = BlobDigest::of(&record);
        let mut outputs = vec![("record.json".to_owned(), record_digest.clone())];
        blobs.push(Upload::Bytes(record_digest, record));
        for digest in output.owned_blobs() {
            let path = store.blob_path(&digest);
            let Ok(meta) = std::fs::metadata(&path) else {
                return;
            };
            let blob = BlobDigest {
                hash: digest.hex(),
                size: i64::try_from(meta.len()).unwrap_or(i64::MAX),
            };
            outputs.push((format!("blobs/{}", digest.hex()), blob.clone()));
            blobs.push(Upload::File(blob, path));
        }
        let job: Job = Box::new(move |client| client.upload(&action, &blobs, &outputs));
        if let Some(sender) = self
            .uploads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            let _ = sender.send(job);
        }
    }

    fn finish(&self) {
        drop(
            self.uploads
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
        let worker = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(failures) = worker.and_then(|w| w.join().ok())
            && let Some(first) = failures.first()
        {
            eprintln!(
                "warning: --remote-cache {}: {} of the build's results were not uploaded: {first}",
                self.url,
                failures.len()
            );
        }
    }
}
