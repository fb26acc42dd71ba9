//! `--secret` values, as buildx reads them: `id=ID,src=FILE` (or `source=`), `id=ID,env=VAR`,
//! `type=file|env` to say which, and `id=ID` alone taking the variable `ID` when it is set.
//! A secret from the environment is written to a file only the store's owner can read (the
//! store's private `tmp/`, removed when the build ends or is interrupted, and reaped if bld is
//! killed), since steps read secrets from files.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use bld_store::Store;

use crate::Failure;

/// The secrets of a build, by id: the files holding them. Files made for environment
/// secrets are removed when this is dropped.
#[derive(Default)]
pub(crate) struct Secrets {
    pub(crate) files: HashMap<String, PathBuf>,
    made: Vec<PathBuf>,
}

impl Drop for Secrets {
    fn drop(&mut self) {
        for file in &self.made {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// Where one `--secret` comes from.
enum Source {
    File(PathBuf),
    Env(String),
}

impl Secrets {
    /// The secrets `given` (`--secret` values), environment ones written into `store`.
    pub(crate) fn from_args(given: &[String], store: &Store) -> Result<Secrets, Failure> {
        let mut secrets = Secrets::default();
        for text in given {
            let (id, source) = parse(text)?;
            let file = match source {
                Source::File(path) if path.is_file() => path,
                Source::File(path) => {
                    return Err(Failure::user(format!(
                        "--secret `{text}`: `{}` is not a file",
                        path.display()
                    )));
                }
                Source::Env(var) => {
                    let Some(value) = std::env::var_os(&var) else {
                        return Err(Failure::user(format!(
                            "--secret `{text}`: the environment has no `{var}`"
                        )));
                    };
                    let file = store.temp_path("secret");
                    write_private(&file, value.as_encoded_bytes())
                        .map_err(|e| Failure::internal(format!("cannot write a secret: {e}")))?;
                    secrets.made.push(file.clone());
                    file
                }
            };
            secrets.files.insert(id, file);
        }
        Ok(secrets)
    }
}

fn parse(text: &str) -> Result<(String, Source), Failure> {
    let expected = || {
        Failure::user(format!(
            "--secret `{text}`: expected `id=ID,src=FILE` or `id=ID,env=VAR`"
        ))
    };
    let (mut id, mut src, mut env, mut kind) = (None, None, None, None);
    for part in text.split(',') {
        match part.split_once('=') {
            Some(("id", v)) if !v.is_empty() => id = Some(v.to_owned()),
            Some(("src" | "source", v)) => src = Some(PathBuf::from(v)),
            Some(("env", v)) => env = Some(v.to_owned()),
            Some(("type", v @ ("file" | "env"))) => kind = Some(v),
            _ => return Err(expected()),
        }
    }
    let id = id.ok_or_else(expected)?;
    let source = match (kind, src, env) {
        (None | Some("file"), Some(src), None) => Source::File(src),
        (None | Some("env"), None, Some(env)) => Source::Env(env),
        (Some("env"), None, None) => Source::Env(id.clone()),
        (Some("file"), None, None) => Source::File(PathBuf::from(&id)),
        (None, None, None) if std::env::var_os(&id).is_some() => Source::Env(id.clone()),
        _ => return Err(expected()),
    };
    Ok((id, source))
}

/// `bytes` in a new file at `path` that only its owner can read.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

/// `--ssh ID[=SOCKET]` values, as buildx reads them: `default` (or any id) alone is the agent
/// of `$SSH_AUTH_SOCK`; the socket must be a Unix socket (bld forwards agents, not key files).
pub(crate) fn ssh_agents(given: &[String]) -> Result<HashMap<String, PathBuf>, Failure> {
    use std::os::unix::fs::FileTypeExt;
    let mut agents = HashMap::new();
    for text in given {
        let (id, socket) = match text.split_once('=') {
            Some((id, socket)) => (id, PathBuf::from(socket)),
            None => match std::env::var_os("SSH_AUTH_SOCK") {
                Some(socket) => (text.as_str(), PathBuf::from(socket)),
                None => {
                    return Err(Failure::user(format!(
                        "--ssh `{text}`: SSH_AUTH_SOCK is not set: give the agent's socket, `--ssh {text}=SOCKET`"
                    )));
                }
            },
        };
        let is_socket = std::fs::metadata(&socket).is_ok_and(|m| m.file_type().is_socket());
        if id.is_empty() || !is_socket {
            return Err(Failure::user(format!(
                "--ssh `{text}`: `{}` is not an SSH agent's socket: expected ID[=SOCKET]",
                socket.display()
            )));
        }
        agents.insert(id.to_owned(), socket);
    }
    Ok(agents)
}
