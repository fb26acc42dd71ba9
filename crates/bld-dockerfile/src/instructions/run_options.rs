//! The typed values of `RUN --mount`, `RUN --network` and `RUN --security`.
//!
//! Mount options are comma-separated `key=value` fields (CSV quoting allowed), as BuildKit
//! reads them. String values are kept as written: they may hold variables that a later step
//! expands. Numeric options (`mode`, `uid`, `gid`, `size`) must be literal numbers.

/// A `RUN --mount=...` specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// `type=bind` (the default): a directory of the build context or another stage.
    Bind(BindMount),
    /// `type=cache`: a persistent cache directory.
    Cache(CacheMount),
    /// `type=tmpfs`: an empty in-memory file system.
    Tmpfs(TmpfsMount),
    /// `type=secret`: a secret as a file (or an environment variable).
    Secret(SecretMount),
    /// `type=ssh`: an SSH agent socket.
    Ssh(SshMount),
}

/// Options of a bind mount.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BindMount {
    /// Where to mount (`target`, `dst`, `destination`).
    pub target: String,
    /// The path inside `from` (`source`, `src`); the root when absent.
    pub source: Option<String>,
    /// The stage, image or context to mount from; the build context when absent.
    pub from: Option<String>,
    /// Read-only unless `rw`/`readwrite` is given.
    pub read_only: bool,
}

/// How concurrent builds share a cache mount (`sharing=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheSharing {
    /// `shared` (the default): used concurrently.
    #[default]
    Shared,
    /// `private`: a new cache when one is in use.
    Private,
    /// `locked`: wait until the cache is released.
    Locked,
}

/// Options of a cache mount.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CacheMount {
    /// Where to mount.
    pub target: String,
    /// The cache's identity; the target when absent.
    pub id: Option<String>,
    /// How concurrent builds share it.
    pub sharing: CacheSharing,
    /// A stage or image to seed the cache from.
    pub from: Option<String>,
    /// The path inside `from` to seed from.
    pub source: Option<String>,
    /// Whether the mount is read-only (`ro`); writable by default.
    pub read_only: bool,
    /// File mode of a new cache directory (octal in the text).
    pub mode: Option<u32>,
    /// Owner of a new cache directory.
    pub uid: Option<u32>,
    /// Group of a new cache directory.
    pub gid: Option<u32>,
}

/// Options of a tmpfs mount.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TmpfsMount {
    /// Where to mount.
    pub target: String,
    /// Size limit in bytes (`size=64m`).
    pub size: Option<u64>,
    /// Whether the mount is read-only; writable by default.
    pub read_only: bool,
}

/// Options of a secret mount.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecretMount {
    /// The secret's identity (`id`, or `source`/`src`); the target's base name when absent.
    pub id: Option<String>,
    /// Where the secret file appears; `/run/secrets/<id>` when absent.
    pub target: Option<String>,
    /// An environment variable to expose the secret as.
    pub env: Option<String>,
    /// Whether the build fails when the secret is not provided.
    pub required: bool,
    /// File mode of the secret file.
    pub mode: Option<u32>,
    /// Owner of the secret file.
    pub uid: Option<u32>,
    /// Group of the secret file.
    pub gid: Option<u32>,
}

/// Options of an SSH agent mount.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SshMount {
    /// The SSH agent's identity; `default` when absent.
    pub id: Option<String>,
    /// Where the socket appears; `/run/buildkit/ssh_agent.<n>` when absent.
    pub target: Option<String>,
    /// Whether the build fails when no agent is provided.
    pub required: bool,
    /// File mode of the socket.
    pub mode: Option<u32>,
    /// Owner of the socket.
    pub uid: Option<u32>,
    /// Group of the socket.
    pub gid: Option<u32>,
}

/// `RUN --network=...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    /// `default`: the build's default network.
    Default,
    /// `none`: no network access.
    None,
    /// `host`: the host's network (needs an entitlement).
    Host,
}

impl NetworkMode {
    pub(super) fn parse(value: &str) -> Option<NetworkMode> {
        match value {
            "default" => Some(NetworkMode::Default),
            "none" => Some(NetworkMode::None),
            "host" => Some(NetworkMode::Host),
            _ => None,
        }
    }
}

/// `RUN --security=...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityMode {
    /// `sandbox`: the default confinement.
    Sandbox,
    /// `insecure`: a privileged container (needs an entitlement).
    Insecure,
}

impl SecurityMode {
    pub(super) fn parse(value: &str) -> Option<SecurityMode> {
        match value {
            "sandbox" => Some(SecurityMode::Sandbox),
            "insecure" => Some(SecurityMode::Insecure),
            _ => None,
        }
    }
}

const MOUNT_KEYS: &str = "type, from, source (src), target (dst, destination), readonly (ro), \
    readwrite (rw), id, sharing, required, mode, uid, gid, size, env";

#[derive(Clone, Copy, PartialEq, Eq)]
enum MountType {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

impl MountType {
    fn name(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        }
    }
}

/// Every option a mount may have, gathered before the typed mount is built.
#[derive(Default)]
struct MountFields {
    target: Option<String>,
    source: Option<String>,
    from: Option<String>,
    id: Option<String>,
    env: Option<String>,
    read_only: Option<bool>,
    required: bool,
    sharing: Option<CacheSharing>,
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
    size: Option<u64>,
}

impl Mount {
    /// Parses a mount specification (the value of `--mount=`). The error says what was
    /// wrong and what was expected.
    pub(super) fn parse(spec: &str) -> Result<Mount, String> {
        let fields = split_csv(spec)?;
        let mut kind = MountType::Bind;
        for field in &fields {
            if let Some((key, value)) = field.split_once('=')
                && key.eq_ignore_ascii_case("type")
            {
                kind = match value.to_ascii_lowercase().as_str() {
                    "bind" => MountType::Bind,
                    "cache" => MountType::Cache,
                    "tmpfs" => MountType::Tmpfs,
                    "secret" => MountType::Secret,
                    "ssh" => MountType::Ssh,
                    _ => {
                        return Err(format!(
                            "unsupported mount type `{value}`: expected bind, cache, tmpfs, secret or ssh"
                        ));
                    }
                };
            }
        }
        let mut options = MountFields::default();
        for field in &fields {
            apply_field(&mut options, kind, field)?;
        }
        build_mount(kind, options)
    }
}

fn apply_field(options: &mut MountFields, kind: MountType, field: &str) -> Result<(), String> {
    let (key, value) = match field.split_once('=') {
        Some((key, value)) => (key.to_ascii_lowercase(), Some(value)),
        None => (field.to_ascii_lowercase(), None),
    };
    let unexpected = || format!("unexpected key `{key}` for mount type {}", kind.name());
    let flag_value = |value: Option<&str>| -> Result<bool, String> {
        match value {
            None => Ok(true),
            Some(text) => parse_go_bool(text)
                .ok_or_else(|| format!("invalid value `{text}` for {key}: expected true or false")),
        }
    };
    match key.as_str() {
        "readonly" | "ro" => options.read_only = Some(flag_value(value)?),
        "readwrite" | "rw" => options.read_only = Some(!flag_value(value)?),
        "required" => {
            if !matches!(kind, MountType::Secret | MountType::Ssh) {
                return Err(unexpected());
            }
            options.required = flag_value(value)?;
        }
        _ => {
            let Some(value) = value else {
                return Err(format!(
                    "invalid field `{field}`: expected a key=value pair"
                ));
            };
            let value = value.to_owned();
            let allows_file_info =
                matches!(kind, MountType::Secret | MountType::Ssh | MountType::Cache);
            match key.as_str() {
                "type" => {}
                "from" => options.from = Some(value),
                "source" | "src" => options.source = Some(value),
                "target" | "dst" | "destination" => options.target = Some(value),
                "id" => options.id = Some(value),
                "env" if kind == MountType::Secret => options.env = Some(value),
                "sharing" if kind == MountType::Cache => {
                    options.sharing = Some(match value.to_ascii_lowercase().as_str() {
                        "shared" => CacheSharing::Shared,
                        "private" => CacheSharing::Private,
                        "locked" => CacheSharing::Locked,
                        _ => {
                            return Err(format!(
                                "unsupported sharing value `{value}`: expected shared, private or locked"
                            ));
                        }
                    });
                }
                "mode" if allows_file_info => {
                    options.mode = Some(u32::from_str_radix(&value, 8).map_err(|_| {
                        format!("invalid mode `{value}`: expected an octal number such as 0644")
                    })?);
                }
                "uid" | "gid" if allows_file_info => {
                    let number = value.parse::<u32>().map_err(|_| {
                        format!("invalid {key} `{value}`: expected a decimal number")
                    })?;
                    if key == "uid" {
                        options.uid = Some(number);
                    } else {
                        options.gid = Some(number);
                    }
                }
                "size" if kind == MountType::Tmpfs => {
                    options.size = Some(parse_size(&value).ok_or_else(|| {
                        format!("invalid size `{value}`: expected bytes with an optional k, m, g or t suffix")
                    })?);
                }
                "env" | "sharing" | "mode" | "uid" | "gid" | "size" => return Err(unexpected()),
                _ => {
                    return Err(format!(
                        "unexpected key `{key}` in `{field}`: expected one of {MOUNT_KEYS}"
                    ));
                }
            }
        }
    }
    Ok(())
}

fn build_mount(kind: MountType, options: MountFields) -> Result<Mount, String> {
    let needs_target = |target: Option<String>| {
        target.ok_or_else(|| {
            format!(
                "a {} mount needs a target: expected target=<path>",
                kind.name()
            )
        })
    };
    Ok(match kind {
        MountType::Bind => Mount::Bind(BindMount {
            target: needs_target(options.target)?,
            source: options.source,
            from: options.from,
            read_only: options.read_only.unwrap_or(true),
        }),
        MountType::Cache => Mount::Cache(CacheMount {
            target: needs_target(options.target)?,
            id: options.id,
            sharing: options.sharing.unwrap_or_default(),
            from: options.from,
            source: options.source,
            read_only: options.read_only.unwrap_or(false),
            mode: options.mode,
            uid: options.uid,
            gid: options.gid,
        }),
        MountType::Tmpfs => Mount::Tmpfs(TmpfsMount {
            target: needs_target(options.target)?,
            size: options.size,
            read_only: options.read_only.unwrap_or(false),
        }),
        MountType::Secret => {
            if options.from.is_some() {
                return Err("a secret mount cannot have `from`: expected id, target, env, required, mode, uid or gid".to_owned());
            }
            if options.source.is_some() && options.id.is_some() {
                return Err(
                    "a secret mount takes `source` or `id`, not both: expected one of them"
                        .to_owned(),
                );
            }
            let id = options.id.or(options.source);
            if id.is_none() && options.target.is_none() && options.env.is_none() {
                return Err(
                    "a secret mount needs an id, a target or an env: expected id=<name>".to_owned(),
                );
            }
            Mount::Secret(SecretMount {
                id,
                target: options.target,
                env: options.env,
                required: options.required,
                mode: options.mode,
                uid: options.uid,
                gid: options.gid,
            })
        }
        MountType::Ssh => Mount::Ssh(SshMount {
            id: options.id,
            target: options.target,
            required: options.required,
            mode: options.mode,
            uid: options.uid,
            gid: options.gid,
        }),
    })
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A size in bytes: digits, optionally followed by `k`, `m`, `g` or `t` (binary multiples,
/// any case, optionally followed by `b` or `ib`).
pub fn parse_size(text: &str) -> Option<u64> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number: u64 = text[..digits_end].parse().ok()?;
    let suffix = text[digits_end..].to_ascii_lowercase();
    let suffix = suffix.trim_end_matches("ib").trim_end_matches('b');
    let multiplier: u64 = match suffix {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return None,
    };
    number.checked_mul(multiplier)
}

/// Splits one CSV record: fields separated by commas, a field may be double-quoted with
/// `""` standing for a quote inside it.
fn split_csv(spec: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = spec.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(ch) => field.push(ch),
                    None => return Err("unterminated quote: expected a closing `\"`".to_owned()),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(other) => {
                    return Err(format!(
                        "unexpected `{other}` after a quoted field: expected `,`"
                    ));
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => {
                        return Err(
                            "bare `\"` in an unquoted field: expected the whole field quoted"
                                .to_owned(),
                        );
                    }
                    Some(ch) => field.push(ch),
                }
            }
            fields.push(field);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_mount_with_options() {
        let mount =
            Mount::parse("type=cache,target=/root/.cache,id=go,sharing=locked,mode=0755,uid=1000")
                .expect("parses");
        assert_eq!(
            mount,
            Mount::Cache(CacheMount {
                target: "/root/.cache".into(),
                id: Some("go".into()),
                sharing: CacheSharing::Locked,
                mode: Some(0o755),
                uid: Some(1000),
                ..CacheMount::default()
            })
        );
    }

    #[test]
    fn bind_is_default_and_read_only() {
        let mount = Mount::parse("target=/src,from=build,source=/out").expect("parses");
        assert_eq!(
            mount,
            Mount::Bind(BindMount {
                target: "/src".into(),
                source: Some("/out".into()),
                from: Some("build".into()),
                read_only: true,
            })
        );
        let Mount::Bind(bind) = Mount::parse("target=/src,rw").expect("parses") else {
            panic!("expected a bind mount");
        };
        assert!(!bind.read_only);
    }

    #[test]
    fn secret_ssh_tmpfs() {
        let secret =
            Mount::parse("type=secret,id=npmrc,target=/root/.npmrc,required").expect("parses");
        assert!(matches!(
            secret,
            Mount::Secret(SecretMount { required: true, .. })
        ));
        let ssh = Mount::parse("type=ssh").expect("parses");
        assert_eq!(ssh, Mount::Ssh(SshMount::default()));
        let tmpfs = Mount::parse("type=tmpfs,target=/tmp,size=64m").expect("parses");
        assert!(matches!(
            tmpfs,
            Mount::Tmpfs(TmpfsMount {
                size: Some(67_108_864),
                ..
            })
        ));
        let quoted = Mount::parse("type=bind,\"target=/a,b\"").expect("parses");
        assert!(matches!(quoted, Mount::Bind(BindMount { ref target, .. }) if target == "/a,b"));
    }

    #[test]
    fn rejected_mounts() {
        assert!(Mount::parse("type=volume,target=/x").is_err());
        assert!(Mount::parse("type=bind,target=/x,mode=0644").is_err());
        assert!(Mount::parse("type=bind,target=/x,required").is_err());
        assert!(Mount::parse("type=cache").is_err());
        assert!(Mount::parse("type=secret").is_err());
        assert!(Mount::parse("type=secret,id=a,from=b").is_err());
        assert!(Mount::parse("type=cache,target=/x,sharing=sometimes").is_err());
        assert!(Mount::parse("type=cache,target=/x,colour=blue").is_err());
        assert!(Mount::parse("type=cache,target").is_err());
    }
}
