//! A registry of the caller's own: Debian's `docker-registry` (distribution 2.8) on a free
//! loopback port, its storage in a temporary directory, stopped on drop. One definition for the
//! tests that pull and push (`tests/it/registry.rs`) and the registry benchmark.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A registry of the test's own, on `127.0.0.1:port`, its storage in a temporary directory.
pub struct Registry {
    dir: tempfile::TempDir,
    pub port: u16,
    daemon: Child,
    /// The password file of one that takes a login, the certificates of one on TLS.
    _secrets: Option<tempfile::TempDir>,
    /// The CA that signed the certificate of one on TLS.
    pub ca: Option<PathBuf>,
    /// The token issuer of one that takes bearer tokens.
    _issuer: Option<token::Issuer>,
}

/// Runs `openssl` with `args`, failing the test if it fails.
fn openssl(args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Makes `dir/NAME.key` and a certificate `dir/NAME.crt` for `subject_alt`, signed by the CA
/// `dir/ca.crt` (made first when `NAME` is `ca`, self-signed).
fn certificate(dir: &Path, name: &str, subject_alt: &str) -> PathBuf {
    let at = |file: &str| dir.join(file).display().to_string();
    let (key, crt) = (at(&format!("{name}.key")), at(&format!("{name}.crt")));
    if name == "ca" {
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &crt,
            "-days",
            "2",
            "-subj",
            "/CN=bld test CA",
        ]);
    } else {
        let csr = at(&format!("{name}.csr"));
        let ext = at(&format!("{name}.ext"));
        std::fs::write(&ext, format!("subjectAltName={subject_alt}\n")).expect("ext");
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN={name}"),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &at("ca.crt"),
            "-CAkey",
            &at("ca.key"),
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "2",
            "-extfile",
            &ext,
        ]);
    }
    PathBuf::from(crt)
}

impl Registry {
    /// Starts one, or prints why the test is skipped when `docker-registry` is not installed
    /// (the README's test command installs it).
    pub fn start() -> Option<Registry> {
        Registry::start_with("")
    }

    /// Starts one that takes only `user` with `password` (htpasswd, bcrypt).
    pub fn with_login(user: &str, password: &str) -> Option<Registry> {
        if !Path::new("/usr/bin/htpasswd").exists() {
            println!("skipped: htpasswd (Debian's apache2-utils) is not installed");
            return None;
        }
        let secrets = tempfile::tempdir().expect("tempdir");
        let file_arg = secrets.path().join("htpasswd").display().to_string();
        let made = Command::new("htpasswd")
            .args(["-Bbc", &file_arg, user, password])
            .output()
            .expect("run htpasswd");
        assert!(made.status.success(), "htpasswd failed");
        let mut registry = Registry::start_with(&format!(
            "auth: {{htpasswd: {{realm: bld-test, path: {file_arg}}}}}\n"
        ))?;
        registry._secrets = Some(secrets);
        Some(registry)
    }

    /// Starts one serving HTTPS only, with a certificate for 127.0.0.1 signed by a CA of its
    /// own (`ca`).
    pub fn with_tls() -> Option<Registry> {
        Registry::tls("")
    }

    /// [`Registry::with_tls`], taking only clients whose certificate its CA signed: the pair
    /// `client.crt` / `client.key` beside `ca`.
    pub fn with_client_certificates() -> Option<Registry> {
        Registry::tls("client")
    }

    fn tls(client: &str) -> Option<Registry> {
        let secrets = tempfile::tempdir().expect("tempdir");
        let ca = certificate(secrets.path(), "ca", "");
        let crt = certificate(secrets.path(), "registry", "IP:127.0.0.1,DNS:localhost");
        let key = secrets.path().join("registry.key");
        let clientcas = if client.is_empty() {
            String::new()
        } else {
            certificate(secrets.path(), client, "DNS:bld-client");
            format!(", clientcas: [{}]", ca.display())
        };
        let mut registry = Registry::start_with(&format!(
            "  tls: {{certificate: {}, key: {}{clientcas}}}\n",
            crt.display(),
            key.display()
        ))?;
        registry.ca = Some(ca);
        registry._secrets = Some(secrets);
        Some(registry)
    }

    /// Starts one that takes the bearer tokens of an issuer of the harness's own, which gives
    /// `user` with `password` what a scope asks for and anyone else nothing.
    pub fn with_tokens(user: &str, password: &str) -> Option<Registry> {
        let secrets = tempfile::tempdir().expect("tempdir");
        let ca = certificate(secrets.path(), "ca", "");
        let issuer = token::Issuer::start(secrets.path(), user, password);
        let mut registry = Registry::start_with(&format!(
            "auth: {{token: {{realm: 'http://127.0.0.1:{}/token', service: {}, issuer: {}, rootcertbundle: {}}}}}\n",
            issuer.port,
            token::SERVICE,
            token::ISSUER,
            ca.display()
        ))?;
        registry._issuer = Some(issuer);
        registry._secrets = Some(secrets);
        Some(registry)
    }

    /// Kills the registry (it keeps its storage).
    pub fn kill(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }

    /// Starts the registry again on its port, with its storage.
    pub fn restart(&mut self) {
        self.kill();
        self.daemon = spawn(&self.dir.path().join("config.yml"));
        wait_for(self.port);
    }

    /// The registry's storage (distribution's filesystem driver).
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("data/docker/registry/v2")
    }

    fn start_with(extra_config: &str) -> Option<Registry> {
        if !Path::new("/usr/bin/docker-registry").exists() {
            println!("skipped: Debian's docker-registry is not installed");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let port = crate::ports::free_port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {}}}}}\nhttp:\n  addr: 127.0.0.1:{port}\n{extra_config}",
                dir.path().join("data").display()
            ),
        )
        .expect("config");
        let daemon = spawn(&config);
        let registry = Registry {
            dir,
            port,
            daemon,
            _secrets: None,
            ca: None,
            _issuer: None,
        };
        wait_for(port);
        Some(registry)
    }

    /// `127.0.0.1:PORT/repository`.
    pub fn name(&self, repository: &str) -> String {
        format!("127.0.0.1:{}/{repository}", self.port)
    }

    /// The files holding the registry's blobs.
    pub fn blob_files(&self) -> Vec<PathBuf> {
        let root = self.storage().join("blobs/sha256");
        let mut files = Vec::new();
        for prefix in std::fs::read_dir(root).expect("blobs") {
            for blob in std::fs::read_dir(prefix.expect("entry").path()).expect("blob dirs") {
                files.push(blob.expect("entry").path().join("data"));
            }
        }
        files
    }
}

/// `docker-registry serve CONFIG`.
fn spawn(config: &Path) -> Child {
    Command::new("/usr/bin/docker-registry")
        .arg("serve")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start docker-registry")
}

/// Waits until the registry listens on the loopback `port`.
fn wait_for(port: u16) {
    crate::ports::wait_for(port, "docker-registry", 20);
}

#[path = "token.rs"]
mod token;

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}
