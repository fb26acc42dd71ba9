//! The shared cache between two machines: two network namespaces, each with a store of its own,
//! and a real `docker-registry` in a third. Each machine reaches the registry at an address of
//! its own link and nothing of the other; the second builds the first's image with no action
//! run.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::remote_cache::{context, summary};
use crate::support::{Run, TEST_CONFIG};

/// Three network namespaces: `server`, and `a` and `b` each joined to it by a veth pair
/// (`10.201.1.0/24` and `10.201.2.0/24`; the server is `.1` on both). Removed when dropped.
struct Machines {
    server: String,
    a: String,
    b: String,
    registry: Option<Child>,
}

impl Machines {
    fn make() -> Option<Machines> {
        let tag = std::process::id() % 100_000;
        let machines = Machines {
            server: format!("bld{tag}s"),
            a: format!("bld{tag}a"),
            b: format!("bld{tag}b"),
            registry: None,
        };
        if !ip(&["netns", "add", &machines.server]) {
            println!("skipped: cannot make network namespaces (`ip netns add` needs root)");
            return None;
        }
        for (machine, net) in [(&machines.a, 1), (&machines.b, 2)] {
            let (here, there) = (format!("{machine}0"), format!("{machine}1"));
            let made = ip(&["netns", "add", machine])
                && ip(&["link", "add", &here, "type", "veth", "peer", "name", &there])
                && ip(&["link", "set", &here, "netns", machine])
                && ip(&["link", "set", &there, "netns", &machines.server])
                && ip(&[
                    "-n",
                    machine,
                    "addr",
                    "add",
                    &format!("10.201.{net}.2/24"),
                    "dev",
                    &here,
                ])
                && ip(&[
                    "-n",
                    &machines.server,
                    "addr",
                    "add",
                    &format!("10.201.{net}.1/24"),
                    "dev",
                    &there,
                ])
                && ip(&["-n", machine, "link", "set", &here, "up"])
                && ip(&["-n", &machines.server, "link", "set", &there, "up"])
                && ip(&["-n", machine, "link", "set", "lo", "up"]);
            assert!(made, "cannot join {machine} to the server");
        }
        assert!(ip(&["-n", &machines.server, "link", "set", "lo", "up"]));
        Some(machines)
    }

    /// Starts `docker-registry` in the server's namespace on port 5000 of every address, and
    /// waits until machine `a` reaches it.
    fn start_registry(&mut self, dir: &Path) {
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {}}}}}\nhttp:\n  addr: 0.0.0.0:5000\n",
                dir.join("registry").display()
            ),
        )
        .expect("config");
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.server,
                "/usr/bin/docker-registry",
                "serve",
            ])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        self.registry = Some(child);
        let waited = Command::new("ip")
            .args(["netns", "exec", &self.a, "python3", "-c"])
            .arg(
                "import socket, time\n\
                 for _ in range(400):\n\
                 \ttry:\n\t\tsocket.create_connection(('10.201.1.1', 5000), 1); break\n\
                 \texcept OSError: time.sleep(0.05)\n\
                 else: raise SystemExit(1)\n",
            )
            .status()
            .expect("python3");
        assert!(
            waited.success(),
            "the registry did not come up in its namespace"
        );
    }
}

impl Drop for Machines {
    fn drop(&mut self) {
        if let Some(mut child) = self.registry.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for name in [&self.a, &self.b, &self.server] {
            ip(&["netns", "del", name]);
        }
    }
}

/// `ip ARGS…`; whether it succeeded.
fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `bld ARGS…` on `machine` (its network namespace) with the store `store`.
fn bld_on(machine: &str, store: &Path, config: &Path, args: &[&str]) -> Run {
    let output = Command::new("ip")
        .args(["netns", "exec", machine, env!("CARGO_BIN_EXE_bld")])
        .args(args)
        .env("BLD_STORE", store)
        .env("BLD_CONFIG", config)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("ip netns exec bld");
    Run::of(output)
}

#[test]
fn two_machines_share_a_cache_through_a_registry_neither_runs() {
    if !Path::new("/usr/bin/docker-registry").exists() || !Path::new("/usr/bin/python3").exists() {
        println!("skipped: docker-registry and python3 are needed");
        return;
    }
    let Some(mut machines) = Machines::make() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    machines.start_registry(scratch);
    let ctx = context(scratch).display().to_string();
    // The registry is plain HTTP at the machines' own link addresses.
    let config: PathBuf = scratch.join("bld.toml");
    let blocked = std::fs::read_to_string(TEST_CONFIG).expect("the test config");
    std::fs::write(
        &config,
        format!("{blocked}insecure-registries = [\"10.201.1.1:5000\", \"10.201.2.1:5000\"]\n"),
    )
    .expect("config");

    let to = "type=registry,ref=10.201.1.1:5000/team/cache:main,mode=max";
    let first = bld_on(
        &machines.a,
        &scratch.join("a"),
        &config,
        &["build", "-t", "app:1", "--cache-to", to, &ctx],
    )
    .ok();
    let (digest, total, ran, _) = summary(&first);
    assert!(ran > 0 && digest.starts_with("sha256:"), "{}", first.stdout);
    assert!(!first.stderr.contains("warning"), "{}", first.stderr);

    let from = "type=registry,ref=10.201.2.1:5000/team/cache:main";
    let second = bld_on(
        &machines.b,
        &scratch.join("b"),
        &config,
        &["build", "-t", "app:1", "--cache-from", from, &ctx],
    )
    .ok();
    let (same, actions, ran_on_b, remote) = summary(&second);
    assert_eq!(
        (same.as_str(), actions, ran_on_b),
        (digest.as_str(), total, 0),
        "{}",
        second.stdout
    );
    assert!(remote > 0, "{}", second.stdout);
    // `b` has no way to `a`: the cache came through the server alone.
    let reach = Command::new("ip")
        .args(["netns", "exec", &machines.b, "python3", "-c"])
        .arg("import socket; socket.create_connection(('10.201.1.2', 22), 1)")
        .stderr(Stdio::null())
        .status()
        .expect("python3");
    assert!(!reach.success());
}
