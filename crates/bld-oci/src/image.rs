//! Image configs and manifests: a base image plus layers plus configuration.

use bld_core::{Digest, Healthcheck, ImageConfigSpec};
use bld_store::Store;
use oci_spec::image::{Descriptor, ImageManifest, ImageManifestBuilder, MediaType};
use serde_json::{Map, Value, json};

use crate::{LayerBlob, OciError, canonical_json, rfc3339};

/// The blobs that make an image, beyond its layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageBlobs {
    /// The manifest's digest: the image's identity.
    pub manifest: Digest,
    /// The manifest's size.
    pub manifest_size: u64,
    /// The config's digest (the first 12 hex digits are Docker's IMAGE ID).
    pub config: Digest,
}

pub(crate) fn oci_digest(digest: &Digest) -> oci_spec::image::Digest {
    digest
        .to_string()
        .parse()
        .expect("invariant: bld digests are valid OCI digests")
}

/// An OCI image manifest of the config `config` (`config_size` bytes) and `layers`.
pub(crate) fn oci_manifest(
    config_size: u64,
    config: &Digest,
    layers: Vec<Descriptor>,
) -> ImageManifest {
    ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(Descriptor::new(
            MediaType::ImageConfig,
            config_size,
            oci_digest(config),
        ))
        .layers(layers)
        .build()
        .expect("invariant: every manifest field is set")
}

fn bad_image(digest: &Digest, reason: impl Into<String>) -> OciError {
    OciError::BadImage {
        digest: *digest,
        reason: reason.into(),
    }
}

/// Reads a stored image: its manifest and its config as a JSON object (both verified).
pub fn read_image(
    store: &Store,
    manifest: &Digest,
) -> Result<(ImageManifest, Map<String, Value>), OciError> {
    let bytes = store.read_blob(manifest)?;
    let parsed = ImageManifest::from_reader(bytes.as_slice())
        .map_err(|e| bad_image(manifest, format!("not an OCI image manifest: {e}")))?;
    let config_digest: Digest = parsed
        .config()
        .digest()
        .to_string()
        .parse()
        .map_err(|e| bad_image(manifest, format!("config digest: {e}")))?;
    let config = store.read_blob(&config_digest)?;
    match serde_json::from_slice(&config) {
        Ok(Value::Object(map)) => Ok((parsed, map)),
        _ => Err(bad_image(&config_digest, "the config is not a JSON object")),
    }
}

/// Builds an image from `base` (a manifest in the store, or `scratch`), `layers` appended in
/// order, and `spec` applied over the base's configuration, as Docker applies instructions.
/// Writes the config and manifest to the store.
pub fn assemble_image(
    store: &Store,
    base: Option<&Digest>,
    layers: &[LayerBlob],
    spec: &ImageConfigSpec,
    created: u64,
) -> Result<ImageBlobs, OciError> {
    let (mut descriptors, mut config) = match base {
        Some(base) => {
            let (manifest, config) = read_image(store, base)?;
            (manifest.layers().clone(), config)
        }
        None => (Vec::new(), Map::new()),
    };
    let created = rfc3339(created);
    config.insert("architecture".into(), spec.architecture.clone().into());
    config.insert("os".into(), spec.os.clone().into());
    config.insert("created".into(), created.clone().into());
    apply_runtime_config(object_field(&mut config, "config"), spec);

    let rootfs = object_field(&mut config, "rootfs");
    rootfs.insert("type".into(), "layers".into());
    let diff_ids = array_field(rootfs, "diff_ids");
    diff_ids.extend(layers.iter().map(|l| Value::from(l.diff_id.to_string())));
    if let Some(author) = &spec.author {
        config.insert("author".into(), author.clone().into());
    }
    let history = array_field(&mut config, "history");
    let mut layer_steps = 0;
    for step in &spec.history {
        let mut entry = json!({ "created": created, "created_by": step.created_by });
        if let Some(comment) = &step.comment {
            entry["comment"] = comment.clone().into();
        }
        if step.empty_layer {
            entry["empty_layer"] = true.into();
        } else {
            layer_steps += 1;
        }
        history.push(entry);
    }
    for _ in layer_steps..layers.len() {
        history.push(json!({ "created": created, "created_by": "bld" }));
    }

    let config_bytes = canonical_json(&config);
    let (config_digest, config_size) = store.put_bytes(&config_bytes)?;
    descriptors.extend(
        layers
            .iter()
            .map(|l| Descriptor::new(MediaType::ImageLayerGzip, l.size, oci_digest(&l.digest))),
    );
    let manifest = oci_manifest(config_size, &config_digest, descriptors);
    let manifest_bytes = canonical_json(&manifest);
    let (manifest_digest, manifest_size) = store.put_bytes(&manifest_bytes)?;
    Ok(ImageBlobs {
        manifest: manifest_digest,
        manifest_size,
        config: config_digest,
    })
}

/// The image `manifest` with `value` set at `key` of its config (the layers unchanged): a
/// new config and manifest in the store.
pub fn with_config_entry(
    store: &Store,
    manifest: &Digest,
    key: &str,
    value: Value,
) -> Result<ImageBlobs, OciError> {
    let (mut manifest, mut config) = read_image(store, manifest)?;
    config.insert(key.to_owned(), value);
    let (config_digest, config_size) = store.put_bytes(&canonical_json(&config))?;
    manifest.set_config(Descriptor::new(
        MediaType::ImageConfig,
        config_size,
        oci_digest(&config_digest),
    ));
    let (manifest_digest, manifest_size) = store.put_bytes(&canonical_json(&manifest))?;
    Ok(ImageBlobs {
        manifest: manifest_digest,
        manifest_size,
        config: config_digest,
    })
}

fn object_field<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
        .expect("invariant: just made an object")
}

fn array_field<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Vec<Value> {
    let slot = map.entry(key).or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        *slot = Value::Array(Vec::new());
    }
    slot.as_array_mut().expect("invariant: just made an array")
}

fn strings(values: &[String]) -> Value {
    Value::Array(values.iter().cloned().map(Value::from).collect())
}

fn apply_runtime_config(config: &mut Map<String, Value>, spec: &ImageConfigSpec) {
    if !spec.env.is_empty() {
        set_env(array_field(config, "Env"), &spec.env);
    }
    if let Some(entrypoint) = &spec.entrypoint {
        config.insert("Entrypoint".into(), strings(entrypoint));
        if spec.cmd.is_none() {
            config.remove("Cmd");
        }
    }
    if let Some(cmd) = &spec.cmd {
        config.insert("Cmd".into(), strings(cmd));
    }
    if spec.args_escaped {
        config.insert("ArgsEscaped".into(), true.into());
    }
    if let Some(workdir) = &spec.workdir {
        config.insert("WorkingDir".into(), workdir.clone().into());
    }
    if let Some(user) = &spec.user {
        config.insert("User".into(), user.clone().into());
    }
    if !spec.labels.is_empty() {
        let labels = object_field(config, "Labels");
        for (key, value) in &spec.labels {
            labels.insert(key.clone(), value.clone().into());
        }
    }
    if !spec.volumes.is_empty() {
        let volumes = object_field(config, "Volumes");
        for volume in &spec.volumes {
            volumes.insert(volume.clone(), json!({}));
        }
    }
    if let Some(signal) = &spec.stop_signal {
        config.insert("StopSignal".into(), signal.clone().into());
    }
    if let Some(shell) = &spec.shell {
        config.insert("Shell".into(), strings(shell));
    }
    if spec.clear_on_build {
        config.remove("OnBuild");
    }
    if !spec.on_build.is_empty() {
        array_field(config, "OnBuild").extend(spec.on_build.iter().cloned().map(Value::from));
    }
    if let Some(check) = &spec.healthcheck {
        config.insert("Healthcheck".into(), healthcheck(check));
    }
    if !spec.exposed_ports.is_empty() {
        let ports = object_field(config, "ExposedPorts");
        for port in &spec.exposed_ports {
            let port = if port.contains('/') {
                port.clone()
            } else {
                format!("{port}/tcp")
            };
            ports.insert(port, json!({}));
        }
    }
}

/// Sets each `KEY=VALUE` of `vars` in `env`, in place of an earlier value of `KEY`.
fn set_env(env: &mut Vec<Value>, vars: &[(String, String)]) {
    for (key, value) in vars {
        let entry = Value::from(format!("{key}={value}"));
        let existing = env.iter().position(|e| {
            e.as_str()
                .is_some_and(|s| s.split_once('=').map_or(s, |(k, _)| k) == key)
        });
        match existing {
            Some(i) => env[i] = entry,
            None => env.push(entry),
        }
    }
}

/// Docker's `Healthcheck` object: durations in nanoseconds, zero ones (the defaults) left out.
fn healthcheck(check: &Healthcheck) -> Value {
    let mut value = Map::new();
    value.insert("Test".into(), strings(&check.test));
    for (key, ns) in [
        ("Interval", check.interval_ns),
        ("Timeout", check.timeout_ns),
        ("StartPeriod", check.start_period_ns),
        ("StartInterval", check.start_interval_ns),
    ] {
        if ns != 0 {
            value.insert(key.into(), ns.into());
        }
    }
    if check.retries != 0 {
        value.insert("Retries".into(), check.retries.into());
    }
    Value::Object(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bld_core::HistoryStep;

    #[test]
    fn child_images_inherit_and_override_the_base_config() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let base_spec = ImageConfigSpec {
            env: vec![("A".into(), "1".into()), ("B".into(), "2".into())],
            cmd: Some(vec!["sh".into()]),
            os: "linux".into(),
            architecture: "amd64".into(),
            ..ImageConfigSpec::default()
        };
        let base = assemble_image(&store, None, &[], &base_spec, 0).expect("base");
        let child_spec = ImageConfigSpec {
            env: vec![("B".into(), "3".into())],
            entrypoint: Some(vec!["/app".into()]),
            exposed_ports: vec!["80".into()],
            ..base_spec.clone()
        };
        let child_spec = ImageConfigSpec {
            cmd: None,
            ..child_spec
        };
        let child =
            assemble_image(&store, Some(&base.manifest), &[], &child_spec, 0).expect("child");
        let (_, config) = read_image(&store, &child.manifest).expect("read");
        let runtime = &config["config"];
        assert_eq!(runtime["Env"], json!(["A=1", "B=3"]));
        assert_eq!(runtime["Entrypoint"], json!(["/app"]));
        assert!(
            runtime.get("Cmd").is_none(),
            "an ENTRYPOINT clears the inherited CMD"
        );
        assert_eq!(runtime["ExposedPorts"], json!({"80/tcp": {}}));
        assert_eq!(config["created"], "1970-01-01T00:00:00Z");
        let again =
            assemble_image(&store, Some(&base.manifest), &[], &child_spec, 0).expect("again");
        assert_eq!(again, child);
    }

    #[test]
    fn history_comments_and_args_escaped_are_written_and_inherited() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let step = |created_by: &str, comment: Option<&str>| HistoryStep {
            created_by: created_by.into(),
            empty_layer: true,
            comment: comment.map(str::to_owned),
        };
        let base_spec = ImageConfigSpec {
            cmd: Some(vec!["sh".into()]),
            args_escaped: true,
            history: vec![step("CMD [\"sh\"]", Some("bld.dockerfile.v0"))],
            ..ImageConfigSpec::default()
        };
        let base = assemble_image(&store, None, &[], &base_spec, 0).expect("base");
        let child_spec = ImageConfigSpec {
            entrypoint: Some(vec!["/app".into()]),
            history: vec![step("made", None)],
            ..ImageConfigSpec::default()
        };
        let child =
            assemble_image(&store, Some(&base.manifest), &[], &child_spec, 0).expect("child");
        let (_, config) = read_image(&store, &child.manifest).expect("read");
        assert_eq!(config["config"]["ArgsEscaped"], json!(true));
        assert_eq!(
            config["history"],
            json!([
                {"created": "1970-01-01T00:00:00Z", "created_by": "CMD [\"sh\"]",
                 "comment": "bld.dockerfile.v0", "empty_layer": true},
                {"created": "1970-01-01T00:00:00Z", "created_by": "made", "empty_layer": true},
            ])
        );
        let (_, plain) = read_image(
            &store,
            &assemble_image(&store, None, &[], &child_spec, 0)
                .expect("plain")
                .manifest,
        )
        .expect("read");
        assert!(plain["config"].get("ArgsEscaped").is_none());
    }
}
