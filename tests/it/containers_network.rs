//! A container's network: none by default, the host's with `--network host`, and a network
//! of its own from slirp4netns with `-p` (a host port forwarded to a server in it).

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::peers::bld_busybox_base;
use crate::support::{Run, run_bld};

fn bld(scratch: &Path, args: &[&str]) -> Run {
    run_bld(scratch, &scratch.join("store"), args).ok()
}

/// A port nothing listens at now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// `GET /` at 127.0.0.1:`port`, asked again for up to 10 s while the server starts.
fn fetch(port: u16) -> String {
    let began = Instant::now();
    loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = stream.write_all(b"GET /index.html HTTP/1.0\r\n\r\n");
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            if !answer.is_empty() {
                return answer;
            }
        }
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "nothing answered at {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_published_port_reaches_a_server_in_the_container() {
    if !Path::new("/usr/bin/slirp4netns").exists() {
        eprintln!("skipped: no slirp4netns (Debian: apt-get install slirp4netns)");
        return;
    }
    let scratch = tempfile::tempdir().expect("tempdir");
    let scratch = scratch.path();
    bld_busybox_base(scratch, &scratch.join("store"));
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let server = "mkdir /www && echo served-by-busybox > /www/index.html && httpd -f -p 80 -h /www";
    bld(
        scratch,
        &[
            "run", "-d", "--name", "web", "-p", &publish, "busybox", "sh", "-c", server,
        ],
    );
    let answer = fetch(port);
    assert!(answer.contains("served-by-busybox"), "{answer}");
    let ps = bld(scratch, &["ps", "--format", "{{.Ports}} {{.Networks}}"]);
    assert_eq!(ps.stdout, format!("127.0.0.1:{port}->80/tcp bridge\n"));
    let inside = bld(
        scratch,
        &[
            "exec",
            "web",
            "sh",
            "-c",
            "ip -4 addr show tap0 | grep -o 'inet [0-9.]*'; cat /etc/resolv.conf",
        ],
    );
    assert_eq!(inside.stdout, "inet 10.0.2.100\nnameserver 10.0.2.3\n");
    bld(scratch, &["rm", "-f", "web"]);
    let mounts = std::fs::read_to_string("/proc/mounts").expect("mounts");
    assert!(
        !mounts.contains(&scratch.display().to_string()),
        "the namespace is let go"
    );
    // Without -p the default is loopback only; -p with `--network none` is refused.
    let none = bld(
        scratch,
        &["run", "--rm", "busybox", "sh", "-c", "ls /sys/class/net"],
    );
    assert_eq!(none.stdout, "lo\n");
    let refused = run_bld(
        scratch,
        &scratch.join("store"),
        &[
            "run",
            "--rm",
            "-p",
            "80",
            "--network",
            "none",
            "busybox",
            "true",
        ],
    );
    assert_eq!(refused.code, 125);
    assert!(
        refused
            .stderr
            .contains("conflicting options: port publishing"),
        "{}",
        refused.stderr
    );
}
