//! The HTTP agent for one registry: HTTPS trusting the system's roots (Debian's
//! `/etc/ssl/certs/ca-certificates.crt`, else Mozilla's from `webpki-roots`) plus the CAs
//! Docker reads from `certs.d/HOST[:PORT]/*.crt`, presenting the client certificate of a
//! `*.cert` / `*.key` pair found there, as Docker does.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

use crate::RegistryError;
use crate::config::Config;

/// The system's CA bundle.
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// An agent for `host` (as its `certs.d` directory is named), verifying certificates unless
/// `verify` is false.
pub(crate) fn agent(
    host: &str,
    config: &Config,
    verify: bool,
) -> Result<ureq::Agent, RegistryError> {
    let mut tls = TlsConfig::builder().disable_verification(!verify);
    static SYSTEM: OnceLock<Vec<Certificate<'static>>> = OnceLock::new();
    let mut roots = SYSTEM
        .get_or_init(|| {
            std::fs::read(SYSTEM_ROOTS)
                .map(|pem| certificates(&pem))
                .unwrap_or_default()
        })
        .clone();
    let mut client = None;
    for dir in &config.certs_dirs {
        read_certs_dir(&dir.join(host), &mut roots, &mut client)?;
    }
    // With no roots at all, ureq's default: Mozilla's, bundled by `webpki-roots`.
    if !roots.is_empty() {
        tls = tls.root_certs(RootCerts::new_with_certs(&roots));
    }
    tls = tls.client_cert(client);
    Ok(ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls.build())
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_recv_body(Some(Duration::from_secs(600)))
        .max_redirects(10)
        .build()
        .into())
}

fn certificates(pem: &[u8]) -> Vec<Certificate<'static>> {
    ureq::tls::parse_pem(pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect()
}

/// Adds the CAs (`*.crt`) of `dir` to `roots` and sets `client` to its `*.cert` with the
/// `*.key` of the same name; a missing directory adds nothing.
fn read_certs_dir(
    dir: &Path,
    roots: &mut Vec<Certificate<'static>>,
    client: &mut Option<ClientCert>,
) -> Result<(), RegistryError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let mut names: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    let bad = |path: &Path, what: &str| {
        RegistryError::Unsupported(format!("the certificate file `{}` {what}", path.display()))
    };
    for path in names {
        let read = || std::fs::read(&path).map_err(|e| bad(&path, &format!("cannot be read: {e}")));
        match path.extension().and_then(|e| e.to_str()) {
            Some("crt") => {
                let found = certificates(&read()?);
                if found.is_empty() {
                    return Err(bad(&path, "holds no PEM certificate"));
                }
                roots.extend(found);
            }
            Some("cert") => {
                let key_path = path.with_extension("key");
                let key = std::fs::read(&key_path).map_err(|_| {
                    bad(
                        &path,
                        &format!("has no key beside it (`{}`)", key_path.display()),
                    )
                })?;
                let key = PrivateKey::from_pem(&key)
                    .map_err(|e| bad(&key_path, &format!("holds no PEM private key: {e}")))?;
                let chain = certificates(&read()?);
                if chain.is_empty() {
                    return Err(bad(&path, "holds no PEM certificate"));
                }
                *client = Some(ClientCert::new_with_certs(&chain, key));
            }
            Some("key") if !path.with_extension("cert").exists() => {
                return Err(bad(&path, "has no client certificate beside it (`.cert`)"));
            }
            _ => {}
        }
    }
    Ok(())
}
