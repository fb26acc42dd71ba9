//! A token issuer for `docker-registry`'s `token` auth: `GET /token?service=…&scope=…` answers
//! with a JWT signed RS256 by the harness's CA key (its certificate in the `x5c` header and in
//! the registry's `rootcertbundle`), granting the scope's actions to the one user it knows and
//! nothing to anyone anonymous, as Docker Hub's and distribution's issuers do.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// The registry's `service`, which tokens name as their audience.
pub const SERVICE: &str = "bld-test-registry";
/// The tokens' issuer.
pub const ISSUER: &str = "bld-test-issuer";

/// The issuer, serving on `127.0.0.1:port` on a thread of its own until the process ends.
pub struct Issuer {
    pub port: u16,
}

/// What the issuer signs with and whom it knows.
struct Keys {
    key: PathBuf,
    certificate_der: String,
    basic: String,
    dir: PathBuf,
}

impl Issuer {
    /// Starts one signing with `dir/ca.key` (certificate `dir/ca.crt`).
    pub fn start(dir: &Path, user: &str, password: &str) -> Issuer {
        let der = Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(dir.join("ca.crt"))
            .output()
            .expect("openssl x509");
        assert!(der.status.success());
        let keys = Keys {
            key: dir.join("ca.key"),
            certificate_der: STANDARD.encode(der.stdout),
            basic: format!("Basic {}", STANDARD.encode(format!("{user}:{password}"))),
            dir: dir.to_owned(),
        };
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = answer(stream, &keys);
            }
        });
        Issuer { port }
    }
}

/// `%XX` decoded, `+` as a space.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'%')
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                out.push(byte);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, byte) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn answer(stream: TcpStream, keys: &Keys) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut authorization = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
        {
            authorization = Some(value.trim().to_owned());
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("");
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let mut scopes = Vec::new();
    for pair in query.split('&') {
        if let Some(("scope", value)) = pair.split_once('=') {
            scopes.extend(decode(value).split(' ').map(str::to_owned));
        }
    }
    let (status, body) = match authorization.as_deref() {
        Some(given) if given != keys.basic => ("401 Unauthorized", String::new()),
        given => {
            let granted = if given.is_some() { scopes } else { Vec::new() };
            let token = sign(keys, &granted);
            (
                "200 OK",
                serde_json::json!({"token": token, "access_token": token, "expires_in": 300})
                    .to_string(),
            )
        }
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// A JWT granting each `type:name:actions` scope.
fn sign(keys: &Keys, scopes: &[String]) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter_map(|scope| {
            let (kind, rest) = scope.split_once(':')?;
            let (name, actions) = rest.rsplit_once(':')?;
            Some(serde_json::json!({
                "type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>(),
            }))
        })
        .collect();
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5c": [keys.certificate_der]});
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": "alice", "aud": SERVICE, "exp": now + 300, "nbf": now - 10,
        "iat": now, "jti": format!("{now}-{}", scopes.len()), "access": access,
    });
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let input = keys.dir.join(format!("jwt-{}.txt", std::process::id()));
    std::fs::write(&input, &signed).expect("write");
    let signature = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(&keys.key)
        .arg(&input)
        .output()
        .expect("openssl dgst");
    assert!(signature.status.success());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.stdout))
}
