//! bld's registry settings: `$BLD_CONFIG`, else `$XDG_CONFIG_HOME/bld/config.toml`, else
//! `~/.config/bld/config.toml`. The keys are those of Docker's `daemon.json`, in TOML:
//!
//! ```toml
//! registry-mirrors = ["https://mirror.example"]  # tried in order for docker.io, then Docker Hub
//! insecure-registries = ["registry.lan:5000"]    # HTTPS unverified, or plain HTTP
//! blocked-registries = ["docker.io"]             # never asked (their mirrors still are)
//! max-concurrent-downloads = 3                   # layers a pull fetches at once
//! max-concurrent-uploads = 5                     # layers a push sends at once
//! certs-dirs = ["/etc/docker/certs.d"]           # HOST[:PORT]/ca.crt, client.cert + client.key
//!
//! [mirrors]                                      # mirrors of other registries
//! "quay.io" = ["http://127.0.0.1:5001"]
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::RegistryError;

/// The settings, with Docker's defaults where the file is silent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Mirrors by registry host (`docker.io` for `registry-mirrors`), each a URL or
    /// `HOST[:PORT]`, tried in order before the registry itself.
    pub mirrors: BTreeMap<String, Vec<String>>,
    /// Registries reached over HTTPS without verifying their certificate, or plain HTTP.
    pub insecure: Vec<String>,
    /// Registries never asked (as `blocked = true` in containers' `registries.conf`); their
    /// mirrors still are.
    pub blocked: Vec<String>,
    /// Layers a pull fetches at once.
    pub downloads: usize,
    /// Layers a push sends at once.
    pub uploads: usize,
    /// Directories holding a `HOST[:PORT]` directory of CAs and client certificates each.
    pub certs_dirs: Vec<PathBuf>,
    /// The file read, if there was one.
    pub path: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            mirrors: BTreeMap::new(),
            insecure: Vec::new(),
            blocked: Vec::new(),
            downloads: 3,
            uploads: 5,
            certs_dirs: vec![
                PathBuf::from("/etc/docker/certs.d"),
                PathBuf::from("/etc/containers/certs.d"),
            ],
            path: None,
        }
    }
}

/// Where the settings are read from.
pub fn config_file() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("BLD_CONFIG") {
        return Some(PathBuf::from(path));
    }
    let dir = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(dir.join("bld/config.toml"))
}

/// The settings of this process, read once.
pub fn config() -> Result<&'static Config, RegistryError> {
    static CONFIG: OnceLock<Result<Config, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| match config_file() {
            Some(path) => Config::read(&path),
            None => Ok(Config::default()),
        })
        .as_ref()
        .map_err(|message| RegistryError::Unsupported(message.clone()))
}

impl Config {
    /// The settings in `path` (the defaults when there is no such file).
    ///
    /// # Errors
    ///
    /// The file cannot be read, is not TOML, or has a key or value bld does not know, said with
    /// the file, line and what was expected.
    pub fn read(path: &Path) -> Result<Config, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(format!("{}: cannot be read: {e}", path.display())),
        };
        Config::parse(&text, path).map(|config| Config {
            path: Some(path.to_owned()),
            ..config
        })
    }

    fn parse(text: &str, path: &Path) -> Result<Config, String> {
        let table = parse_toml(text, path)?;
        let line_of = |key: &str| line_of(text, key);
        let bad = |key: &str, expected: &str| {
            format!(
                "{}{}: `{key}` must be {expected}",
                path.display(),
                line_of(key)
            )
        };
        let strings = |key: &str, value: &toml::Value| -> Result<Vec<String>, String> {
            value
                .as_array()
                .and_then(|items| {
                    items
                        .iter()
                        .map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .ok_or_else(|| bad(key, "a list of strings"))
        };
        let count = |key: &str, value: &toml::Value| -> Result<usize, String> {
            value
                .as_integer()
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| (1..=64).contains(n))
                .ok_or_else(|| bad(key, "a whole number from 1 to 64"))
        };
        let mut config = Config::default();
        for (key, value) in &table {
            match key.as_str() {
                "registry-mirrors" => {
                    config
                        .mirrors
                        .insert("docker.io".to_owned(), strings(key, value)?);
                }
                "insecure-registries" => config.insecure = strings(key, value)?,
                "blocked-registries" => config.blocked = strings(key, value)?,
                "max-concurrent-downloads" => config.downloads = count(key, value)?,
                "max-concurrent-uploads" => config.uploads = count(key, value)?,
                "certs-dirs" => {
                    config.certs_dirs = strings(key, value)?
                        .into_iter()
                        .map(PathBuf::from)
                        .collect();
                }
                "mirrors" => {
                    let registries = value
                        .as_table()
                        .ok_or_else(|| bad(key, "a table of registry = [mirrors]"))?;
                    for (registry, mirrors) in registries {
                        config
                            .mirrors
                            .insert(registry.clone(), strings(registry, mirrors)?);
                    }
                }
                _ => {
                    return Err(format!(
                        "{}{}: unknown key `{key}` (expected registry-mirrors, \
                         insecure-registries, blocked-registries, max-concurrent-downloads, \
                         max-concurrent-uploads, certs-dirs or [mirrors])",
                        path.display(),
                        line_of(key)
                    ));
                }
            }
        }
        Ok(config)
    }

    /// Whether `host` is listed as insecure (by `HOST[:PORT]`, or its host name alone).
    pub fn is_insecure(&self, host: &str) -> bool {
        self.insecure.iter().any(|listed| {
            let listed = listed
                .trim_start_matches("http://")
                .trim_start_matches("https://")
                .trim_end_matches('/');
            listed == host
        })
    }

    /// Whether `host` is never to be asked.
    pub fn is_blocked(&self, host: &str) -> bool {
        self.blocked.iter().any(|listed| listed == host)
    }

    /// The mirrors configured for the registry `host`.
    pub fn mirrors_of(&self, host: &str) -> &[String] {
        self.mirrors.get(host).map_or(&[], Vec::as_slice)
    }
}

/// `text` as a TOML table, or the error with the file and line.
pub(crate) fn parse_toml(text: &str, path: &Path) -> Result<toml::Table, String> {
    toml::from_str(text).map_err(|e: toml::de::Error| {
        let line = e.span().map_or(String::new(), |span| {
            let before = &text[..span.start.min(text.len())];
            format!(":{}", before.lines().count().max(1))
        });
        format!(
            "{}{line}: not valid TOML: {}",
            path.display(),
            e.message().trim_end()
        )
    })
}

/// `:N`, the line of `text` where `key` (or the table `[key]`) is set, or `""`.
fn line_of(text: &str, key: &str) -> String {
    text.lines()
        .position(|line| {
            let line = line.trim_start().trim_start_matches('"');
            line.starts_with(key) || line.starts_with(&format!("[{key}"))
        })
        .map_or(String::new(), |n| format!(":{}", n + 1))
}

#[cfg(test)]
mod tests {
    use super::Config;
    use std::path::Path;

    #[test]
    fn daemon_json_keys_are_read_and_mistakes_named_with_their_line() {
        let path = Path::new("/cfg/config.toml");
        let config = Config::parse(
            "registry-mirrors = [\"http://127.0.0.1:5001\"]\n\
             insecure-registries = [\"reg.lan:5000\"]\n\
             max-concurrent-downloads = 6\n\
             [mirrors]\n\"quay.io\" = [\"https://m.lan\"]\n",
            path,
        )
        .expect("parses");
        assert_eq!(config.mirrors_of("docker.io"), ["http://127.0.0.1:5001"]);
        assert_eq!(config.mirrors_of("quay.io"), ["https://m.lan"]);
        assert!(config.mirrors_of("ghcr.io").is_empty());
        assert!(config.is_insecure("reg.lan:5000"));
        assert!(!config.is_insecure("reg.lan"));
        assert_eq!((config.downloads, config.uploads), (6, 5));

        let error = Config::parse("max-concurrent-downloads = 3\nregistry-mirror = []\n", path)
            .expect_err("a typo");
        assert!(
            error.starts_with("/cfg/config.toml:2: unknown key `registry-mirror`"),
            "{error}"
        );
        let error =
            Config::parse("\nmax-concurrent-downloads = 0\n", path).expect_err("out of range");
        assert_eq!(
            error,
            "/cfg/config.toml:2: `max-concurrent-downloads` must be a whole number from 1 to 64"
        );
        let error = Config::parse("insecure-registries = \"x\"\n", path).expect_err("not a list");
        assert!(error.ends_with("must be a list of strings"), "{error}");
        let error = Config::parse("mirrors = [\n", path).expect_err("not TOML");
        assert!(
            error.starts_with("/cfg/config.toml:1: not valid TOML"),
            "{error}"
        );
    }
}
