//! Credentials in Docker's `config.json` (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`): an `auths` entry per registry holding `base64(user:password)`, as
//! `docker login` writes it, read by pulls and written by `bld login` (mode 0600); or, when the
//! file names one for the registry (`credHelpers`) or for all (`credsStore`), kept by a
//! `docker-credential-NAME` helper through its `get` / `store` / `erase` protocol.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use crate::RegistryError;

/// A user name and password for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub user: String,
    /// The password (or token).
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Credentials {{ user: {:?}, password: <hidden> }}",
            self.user
        )
    }
}

impl Credentials {
    /// The value of an `Authorization: Basic …` header.
    pub(crate) fn basic(&self) -> String {
        format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", self.user, self.password))
        )
    }
}

/// Where Docker's client configuration is.
pub fn config_path() -> Result<PathBuf, RegistryError> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Ok(PathBuf::from(dir).join("config.json"));
    }
    let home = std::env::var_os("HOME").ok_or_else(|| {
        RegistryError::Unsupported("neither DOCKER_CONFIG nor HOME is set".to_owned())
    })?;
    Ok(PathBuf::from(home).join(".docker/config.json"))
}

/// The configuration as a JSON object (`{}` when there is none).
fn read_config(path: &std::path::Path) -> Result<Map<String, Value>, RegistryError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(e) => return Err(config_error(path, &format!("cannot be read: {e}"))),
    };
    match serde_json::from_str(&text) {
        Ok(Value::Object(config)) => Ok(config),
        _ => Err(config_error(path, "is not a JSON object")),
    }
}

fn config_error(path: &std::path::Path, what: &str) -> RegistryError {
    RegistryError::Unsupported(format!(
        "Docker's configuration `{}` {what}",
        path.display()
    ))
}

/// Docker Hub's key in `auths` and to credential helpers.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// The key Docker writes for `host`.
fn key(host: &str) -> &str {
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY,
        _ => host,
    }
}

/// The keys an `auths` entry for `host` may have, as Docker writes and reads them.
fn keys(host: &str) -> Vec<String> {
    let key = key(host);
    let mut keys = vec![
        key.to_owned(),
        format!("https://{key}"),
        format!("http://{key}"),
    ];
    if key == DOCKER_HUB_KEY {
        keys.extend(["index.docker.io", "docker.io", "https://index.docker.io"].map(String::from));
    }
    keys
}

/// The credential helper `config` names for `host`, if any: `credHelpers`, else `credsStore`.
fn helper(config: &Map<String, Value>, host: &str) -> Option<String> {
    config
        .get("credHelpers")
        .and_then(|helpers| helpers.get(key(host)).or_else(|| helpers.get(host)))
        .or_else(|| config.get("credsStore"))
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty())
        .map(|name| format!("docker-credential-{name}"))
}

/// Runs `helper ACTION` with `input` on its stdin; its stdout, or why it failed.
fn run_helper(helper: &str, action: &str, input: &str) -> Result<String, String> {
    use std::process::{Command, Stdio};
    let mut child = Command::new(helper)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run the credential helper `{helper}`: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("the credential helper `{helper}` failed: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        let said = String::from_utf8_lossy(&output.stderr);
        let said = if said.trim().is_empty() {
            stdout.trim().to_owned()
        } else {
            said.trim().to_owned()
        };
        Err(format!(
            "the credential helper `{helper} {action}` failed: {said}"
        ))
    }
}

/// The credentials `helper` keeps for `host`, if any.
fn helper_lookup(helper: &str, host: &str) -> Result<Option<Credentials>, RegistryError> {
    let output = match run_helper(helper, "get", key(host)) {
        Ok(output) => output,
        // Docker's helpers say so when they hold nothing for the registry.
        Err(message) if message.contains("credentials not found") => return Ok(None),
        Err(message) => return Err(RegistryError::Unsupported(message)),
    };
    let value: Value = serde_json::from_str(&output).map_err(|_| {
        RegistryError::Unsupported(format!(
            "the credential helper `{helper} get` did not print {{\"Username\", \"Secret\"}}"
        ))
    })?;
    let field = |k: &str| {
        value
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Ok(Some(Credentials {
        user: field("Username"),
        password: field("Secret"),
    }))
}

/// The credentials `config.json` holds for `host`, if any.
pub fn lookup(host: &str) -> Result<Option<Credentials>, RegistryError> {
    let path = config_path()?;
    let config = read_config(&path)?;
    if let Some(helper) = helper(&config, host) {
        return helper_lookup(&helper, host);
    }
    let Some(auths) = config.get("auths").and_then(Value::as_object) else {
        return Ok(None);
    };
    let Some(entry) = keys(host).iter().find_map(|k| auths.get(k)) else {
        return Ok(None);
    };
    let bad = || {
        config_error(
            &path,
            &format!("has an `auths` entry for {host} that is not `base64(user:password)`"),
        )
    };
    let Some(auth) = entry.get("auth").and_then(Value::as_str) else {
        return Ok(None);
    };
    let decoded = STANDARD.decode(auth).map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (user, password) = text.split_once(':').ok_or_else(bad)?;
    Ok(Some(Credentials {
        user: user.to_owned(),
        password: password.to_owned(),
    }))
}

/// Writes `config` to `path`, readable by its owner only, replacing it whole.
fn write_config(path: &std::path::Path, config: &Map<String, Value>) -> Result<(), RegistryError> {
    let failed = |e: std::io::Error| config_error(path, &format!("cannot be written: {e}"));
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(failed)?;
    }
    let temporary = path.with_extension(format!("json.{}.tmp", std::process::id()));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(failed)?;
    let text = serde_json::to_string_pretty(&Value::Object(config.clone())).unwrap_or_default();
    file.write_all(text.as_bytes())
        .and_then(|()| file.set_permissions(fs::Permissions::from_mode(0o600)))
        .and_then(|()| fs::rename(&temporary, path))
        .map_err(|e| {
            let _ = fs::remove_file(&temporary);
            failed(e)
        })
}

/// Records `credentials` for `host` (replacing what was there); returns the file written.
pub fn store(host: &str, credentials: &Credentials) -> Result<PathBuf, RegistryError> {
    let path = config_path()?;
    let mut config = read_config(&path)?;
    let auths = config.entry("auths").or_insert_with(|| json!({}));
    let Value::Object(auths) = auths else {
        return Err(config_error(&path, "has an `auths` that is not an object"));
    };
    for key in keys(host) {
        auths.remove(&key);
    }
    let entry = match helper(&config, host) {
        Some(helper) => {
            let input = json!({
                "ServerURL": key(host),
                "Username": credentials.user,
                "Secret": credentials.password,
            });
            run_helper(&helper, "store", &input.to_string()).map_err(RegistryError::Unsupported)?;
            json!({})
        }
        None => {
            let auth = STANDARD.encode(format!("{}:{}", credentials.user, credentials.password));
            json!({ "auth": auth })
        }
    };
    if let Some(Value::Object(auths)) = config.get_mut("auths") {
        auths.insert(key(host).to_owned(), entry);
    }
    write_config(&path, &config)?;
    Ok(path)
}

/// Removes the credentials for `host`; returns whether there were any.
pub fn remove(host: &str) -> Result<bool, RegistryError> {
    let path = config_path()?;
    let mut config = read_config(&path)?;
    let mut removed = false;
    if let Some(helper) = helper(&config, host) {
        removed = run_helper(&helper, "erase", key(host)).is_ok();
    }
    let Some(Value::Object(auths)) = config.get_mut("auths") else {
        return Ok(removed);
    };
    for key in keys(host) {
        removed |= auths.remove(&key).is_some();
    }
    if removed {
        write_config(&path, &config)?;
    }
    Ok(removed)
}
