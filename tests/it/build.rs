//! Building the bundled examples; skopeo and umoci must accept every image.

use serde_json::Value;

use crate::support::{Sandbox, tool};

const IMAGES: &[(&str, &str)] = &[
    ("//examples/hello:image", "examples/hello/image"),
    ("//examples/shared_base:base", "examples/shared_base/base"),
    ("//examples/shared_base:api", "examples/shared_base/api"),
    (
        "//examples/shared_base:worker",
        "examples/shared_base/worker",
    ),
    ("//examples/dockerfile:image", "examples/dockerfile/image"),
    ("//examples/busybox:image", "examples/busybox/image"),
    ("//examples/greeter:image", "examples/greeter/image"),
];

#[test]
fn examples_build_into_layouts_that_skopeo_and_umoci_accept() {
    let sandbox = Sandbox::with_examples();
    let run = sandbox.bld(&["build", "//examples/..."]).ok();
    assert!(
        run.stdout
            .lines()
            .last()
            .unwrap_or_default()
            .starts_with("Built 7 images"),
        "{}",
        run.stdout
    );
    for (label, dir) in IMAGES {
        let layout = sandbox.ws().join("bld-out").join(dir);
        let layout = layout.to_str().expect("utf-8");
        let inspect: Value =
            serde_json::from_str(&tool("skopeo", &["inspect", &format!("oci:{layout}")]))
                .expect("json");
        assert_eq!(inspect["Digest"], run.digest_of(label), "{label}");
        crate::support::skopeo_verifies(std::path::Path::new(layout));
        let bundle = sandbox
            .path()
            .join(format!("bundle-{}", dir.replace('/', "-")));
        tool(
            "umoci",
            &["unpack", "--image", layout, bundle.to_str().expect("utf-8")],
        );
    }

    let bundle = sandbox.path().join("bundle-examples-hello-image/rootfs");
    assert_eq!(
        std::fs::read_to_string(bundle.join("srv/hello/motd.txt")).expect("motd"),
        "Hello, bld!\n"
    );
    assert!(bundle.join("srv/hello/static/index.html").is_file());

    use std::os::unix::fs::MetadataExt;
    let worker = sandbox
        .path()
        .join("bundle-examples-shared_base-worker/rootfs");
    let run_sh = std::fs::metadata(worker.join("app/worker/run.sh")).expect("run.sh");
    assert_eq!(
        (run_sh.mode() & 0o7777, run_sh.uid(), run_sh.gid()),
        (0o755, 1000, 1000)
    );
    assert!(
        worker.join("etc/os-release").is_file(),
        "the base's layer is in the child image"
    );
    let site = sandbox
        .path()
        .join("bundle-examples-dockerfile-image/rootfs");
    assert!(
        site.join("srv/www/index.html").is_file(),
        "COPY --from=assets"
    );
    assert!(
        site.join("etc/os-release").is_file(),
        "FROM base: the bld target's layer"
    );
}

#[test]
fn image_config_carries_the_rule_attributes_and_history() {
    let sandbox = Sandbox::with_examples();
    sandbox
        .bld(&[
            "build",
            "//examples/shared_base:api",
            "//examples/hello:image",
        ])
        .ok();
    let config = |dir: &str| -> Value {
        let layout = sandbox.ws().join("bld-out").join(dir);
        serde_json::from_str(&tool(
            "skopeo",
            &["inspect", "--config", &format!("oci:{}", layout.display())],
        ))
        .expect("json")
    };
    let hello = config("examples/hello/image");
    assert_eq!(
        hello["config"]["Cmd"],
        serde_json::json!(["cat", "/srv/hello/motd.txt"])
    );
    assert_eq!(hello["config"]["WorkingDir"], "/srv/hello");
    assert_eq!(
        hello["config"]["Env"],
        serde_json::json!(["GREETING_FILE=/srv/hello/motd.txt"])
    );
    assert_eq!(hello["created"], "1970-01-01T00:00:00Z");
    let api = config("examples/shared_base/api");
    assert_eq!(
        api["config"]["Entrypoint"],
        serde_json::json!(["/app/api/run.sh"])
    );
    assert_eq!(
        api["config"]["ExposedPorts"],
        serde_json::json!({"8080/tcp": {}})
    );
    assert_eq!(
        api["config"]["Env"],
        serde_json::json!(["PATH=/usr/local/bin:/usr/bin:/bin"])
    );
    assert_eq!(api["rootfs"]["diff_ids"].as_array().map(Vec::len), Some(2));
    assert_eq!(api["history"].as_array().map(Vec::len), Some(2));
    assert!(
        api["history"][1]["created_by"]
            .as_str()
            .unwrap_or_default()
            .contains("//examples/shared_base:api_files")
    );
}

#[test]
fn labels_resolve_relative_to_the_working_directory() {
    let sandbox = Sandbox::with_examples();
    let from_root = sandbox.bld(&["build", "//examples/hello:image"]).ok();
    let from_package = sandbox.bld_in("examples/hello", &["build", ":image"]).ok();
    let from_parent = sandbox.bld_in("examples", &["build", "hello:image"]).ok();
    let digest = from_root.digest_of("//examples/hello:image");
    assert_eq!(from_package.digest_of("//examples/hello:image"), digest);
    assert_eq!(from_parent.digest_of("//examples/hello:image"), digest);
}

#[test]
fn source_date_epoch_sets_created_and_mtimes() {
    let sandbox = Sandbox::with_examples();
    let default = sandbox
        .bld(&["build", "//examples/hello:image"])
        .ok()
        .digest_of("//examples/hello:image");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_bld"))
        .args(["build", "//examples/hello:image"])
        .current_dir(sandbox.ws())
        .env("BLD_STORE", sandbox.store())
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .expect("run");
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !stdout.contains(&default),
        "SOURCE_DATE_EPOCH must change the image"
    );
    let layout = sandbox.ws().join("bld-out/examples/hello/image");
    let config: Value = serde_json::from_str(&tool(
        "skopeo",
        &["inspect", "--config", &format!("oci:{}", layout.display())],
    ))
    .expect("json");
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
}
