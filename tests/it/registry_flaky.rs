//! A registry behind a proxy of the test's own that fails on purpose: a 503, then a 429 with
//! `Retry-After`, for the manifest, and a layer's download cut short once. A pull retries,
//! waits, resumes the layer with a range request, and ends with the registry's image.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::registry::push_busybox;
use crate::registry::server::Registry;
use crate::support::run_bld;

/// Whether a download has been cut short yet.
static CUT: AtomicBool = AtomicBool::new(false);

/// What the proxy saw: each request's line and `Range` header.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// Reads a request's head (through the blank line): its first line, `Range`, and the head
/// rewritten to close the connection after one response (so that every request is seen).
fn read_head(client: &mut BufReader<TcpStream>) -> Option<(String, Option<String>, String)> {
    let mut line = String::new();
    client.read_line(&mut line).ok()?;
    if line.is_empty() {
        return None;
    }
    let mut head = line.clone();
    let mut range = None;
    loop {
        let mut header = String::new();
        client.read_line(&mut header).ok()?;
        if header.trim().is_empty() {
            break;
        }
        let name = header.split(':').next().unwrap_or("").to_ascii_lowercase();
        if name == "range" {
            range = Some(header.split_once(':')?.1.trim().to_owned());
        }
        if name != "connection" {
            head.push_str(&header);
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    Some((line.trim().to_owned(), range, head))
}

/// Serves one connection: the fault this request gets, or the registry's answer (cut after
/// `cut` bytes when given).
fn serve(client: TcpStream, upstream: u16, seen: &Seen) -> Option<()> {
    let mut reader = BufReader::new(client.try_clone().ok()?);
    let (line, range, head) = read_head(&mut reader)?;
    let mut client = client;
    let manifests = {
        let mut seen = seen.lock().ok()?;
        seen.push((line.clone(), range.clone()));
        let count = |part: &str| {
            seen.iter()
                .filter(|(l, _)| l.starts_with("GET") && l.contains(part))
                .count()
        };
        count("/manifests/")
    };
    if line.contains("/manifests/") && line.starts_with("GET") {
        match manifests {
            1 => {
                return client
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
                    .ok();
            }
            2 => {
                return client
                    .write_all(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n")
                    .ok();
            }
            _ => {}
        }
    }
    // A blob larger than the cut (a layer: the config and the link layer are smaller), cut
    // short until one has been: layers come in parallel, in any order.
    let cut = (line.starts_with("GET")
        && line.contains("/blobs/")
        && range.is_none()
        && !CUT.load(Ordering::SeqCst))
    .then_some(64 << 10);
    let mut registry = TcpStream::connect(("127.0.0.1", upstream)).ok()?;
    registry.write_all(head.as_bytes()).ok()?;
    let mut buffer = vec![0; 16 << 10];
    let mut sent = 0;
    loop {
        let n = registry.read(&mut buffer).ok()?;
        if n == 0 {
            return Some(());
        }
        let n = cut.map_or(n, |cut: usize| n.min(cut.saturating_sub(sent)));
        client.write_all(&buffer[..n]).ok()?;
        sent += n;
        if cut.is_some_and(|cut| sent >= cut) {
            CUT.store(true, Ordering::SeqCst);
            return Some(());
        }
    }
}

#[test]
fn a_pull_retries_waits_as_asked_and_resumes_a_cut_download() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let digest = push_busybox(scratch.path(), &registry, "team/busybox");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let seen: Seen = Arc::default();
    let upstream = registry.port;
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let log = Arc::clone(&log);
            std::thread::spawn(move || serve(client, upstream, &log));
        }
    });

    let name = format!("127.0.0.1:{port}/team/busybox:1");
    let store = scratch.path().join("store");
    let pulled = run_bld(scratch.path(), &store, &["pull", &name]).ok();
    assert!(
        pulled.stdout.contains(&format!("Digest: {digest}")),
        "{}",
        pulled.stdout
    );
    let seen = seen.lock().expect("log").clone();
    let manifests = seen
        .iter()
        .filter(|(l, _)| l.starts_with("GET") && l.contains("/manifests/"))
        .count();
    assert!(manifests >= 3, "503 and 429 were retried: {seen:?}");
    assert!(
        seen.iter().any(|(line, range)| line.contains("/blobs/")
            && range.as_deref().is_some_and(|r| r.starts_with("bytes="))),
        "the cut layer was resumed with a range: {seen:?}"
    );
    let ran = run_bld(scratch.path(), &store, &["run", &name, "echo", "whole"]).ok();
    assert_eq!(ran.stdout, "whole\n");
}
