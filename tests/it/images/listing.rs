//! `bld images`, `bld image inspect` and `bld history`: Docker's columns, shapes and
//! `--format` templates.

use super::{image_id, rows, store_with_images};

#[test]
fn images_lists_tags_and_built_targets_with_docker_columns() {
    let sandbox = store_with_images();
    let list = sandbox.bld(&["images"]).ok();
    assert!(
        list.stdout.starts_with("REPOSITORY  ")
            && list.stdout.lines().next().is_some_and(|h| {
                let columns: Vec<&str> = h
                    .split("  ")
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .collect();
                columns == ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
            }),
        "{}",
        list.stdout
    );
    let rows = rows(&list);
    let names: Vec<String> = rows.iter().map(|r| format!("{}:{}", r[0], r[1])).collect();
    for name in [
        "base:1",
        "app:1",
        "registry.example:5000/team/app:v1",
        "bld.local/pkg/image:latest",
    ] {
        assert!(names.contains(&name.to_owned()), "{name} in {names:?}");
    }
    assert_eq!(rows.len(), 4, "{}", list.stdout);
    let app = &rows[names.iter().position(|n| n == "app:1").expect("app")];
    let id = image_id(&sandbox, "app:1");
    assert_eq!(app[2], id[7..19], "{app:?}");
    assert!(app[3].ends_with(" ago"), "{app:?}");
    assert!(app[4].ends_with('B'), "{app:?}");

    let quiet = sandbox.bld(&["images", "-q", "app"]).ok();
    assert_eq!(quiet.stdout, format!("{}\n", &id[7..19]));
    let full = sandbox.bld(&["images", "--no-trunc", "-q", "app:1"]).ok();
    assert_eq!(full.stdout.trim(), id);
    let digests = sandbox.bld(&["images", "--digests", "app"]).ok();
    assert!(digests.stdout.contains("DIGEST") && digests.stdout.contains("sha256:"));
    let filtered = sandbox
        .bld(&["images", "registry.example:5000/team/*"])
        .ok();
    assert_eq!(self::rows(&filtered).len(), 1, "{}", filtered.stdout);
    let normalized = sandbox.bld(&["images", "docker.io/library/base"]).ok();
    assert_eq!(self::rows(&normalized).len(), 1, "{}", normalized.stdout);

    let json = sandbox.bld(&["images", "--format", "json"]).ok();
    let objects: Vec<serde_json::Value> = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(objects.len(), 4);
    assert!(
        objects
            .iter()
            .any(|o| o["Repository"] == "app" && o["Tag"] == "1")
    );
    let template = sandbox
        .bld(&["images", "--format", "{{.Repository}}:{{.Tag}}", "app"])
        .ok();
    assert_eq!(template.stdout, "app:1\n");
    let bad = sandbox.bld(&["images", "--format", "{{.Repository"]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("--format"), "{}", bad.stderr);
}

#[test]
fn inspect_prints_dockers_shape_and_templates() {
    let sandbox = store_with_images();
    let run = sandbox.bld(&["image", "inspect", "app:1", "base:1"]).ok();
    let array: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).expect("a JSON array");
    assert_eq!(array.len(), 2);
    let app = &array[0];
    assert_eq!(
        app["RepoTags"],
        serde_json::json!(["app:1", "registry.example:5000/team/app:v1"])
    );
    assert!(
        app["Config"]["Env"]
            .as_array()
            .is_some_and(|e| e.contains(&"A=1".into())),
        "{app}"
    );
    assert_eq!(app["Config"]["Cmd"], serde_json::json!(["/b.txt"]));
    assert_eq!(app["Config"]["WorkingDir"], "/srv");
    assert_eq!(app["Config"]["Labels"]["team"], "core");
    assert!(
        app["Config"]["ExposedPorts"].get("8080/tcp").is_some(),
        "{app}"
    );
    // `WORKDIR` makes a layer, as in Docker.
    assert_eq!(app["RootFS"]["Layers"].as_array().map(Vec::len), Some(3));
    assert_eq!(app["Os"], "linux");
    assert!(app["Size"].as_u64().is_some_and(|s| s > 0));
    let env = sandbox
        .bld(&[
            "image",
            "inspect",
            "--format",
            "{{index .Config.Labels \"team\"}} {{json .Config.Cmd}}",
            "app:1",
        ])
        .ok();
    assert_eq!(env.stdout, "core [\"/b.txt\"]\n");
    let by_id = sandbox
        .bld(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}}",
            &image_id(&sandbox, "app:1")[7..15],
        ])
        .ok();
    assert_eq!(by_id.stdout.trim(), image_id(&sandbox, "app:1"));
    let top_level = sandbox
        .bld(&["inspect", "--format", "{{.Id}}", "app:1"])
        .ok();
    assert_eq!(
        top_level.stdout, by_id.stdout,
        "`bld inspect` is `bld image inspect`"
    );

    let missing = sandbox.bld(&["image", "inspect", "app:1", "nope:1"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("no such image: `nope:1`"),
        "{}",
        missing.stderr
    );
    assert!(
        missing.stdout.contains("\"Id\""),
        "found images are still printed"
    );
    let malformed = sandbox.bld(&["image", "inspect", "Bad//name"]);
    assert_eq!(malformed.code, 1);
    assert!(
        malformed.stderr.contains("invalid image reference"),
        "{}",
        malformed.stderr
    );
}

/// What Docker 20.10.24 shows for an image built with BuildKit or loaded.
#[test]
fn inspect_shows_no_parent_or_repo_digest_and_dockers_key_order() {
    let sandbox = store_with_images();
    let run = sandbox.bld(&["image", "inspect", "app:1", "base:1"]).ok();
    let array: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).expect("a JSON array");
    let app = &array[0];
    // Docker 20.10.24 for an image built with BuildKit or loaded: no parent, and no repo
    // digest until it is pushed or pulled (although app is built on base).
    assert_eq!(app["Parent"], "");
    assert_eq!(app["RepoDigests"], serde_json::json!([]));
    assert_eq!(app["Size"], app["VirtualSize"]);
    // Docker's key order (its struct's), four spaces a level.
    let keys: Vec<&str> = run
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("        \""))
        .filter_map(|l| l.split('"').next())
        .collect();
    assert_eq!(
        keys,
        [
            "Id",
            "RepoTags",
            "RepoDigests",
            "Parent",
            "Comment",
            "Created",
            "Container",
            "ContainerConfig",
            "DockerVersion",
            "Author",
            "Config",
            "Architecture",
            "Os",
            "Size",
            "VirtualSize",
            "GraphDriver",
            "RootFS",
            "Metadata",
        ]
        .repeat(2)
    );
}

#[test]
fn history_lists_entries_newest_first_with_the_base_image() {
    let sandbox = store_with_images();
    let run = sandbox.bld(&["history", "app:1"]).ok();
    let header: Vec<&str> = run
        .stdout
        .lines()
        .next()
        .expect("header")
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header,
        ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
    );
    let rows = rows(&run);
    // base: COPY, ENV, LABEL; app: COPY, WORKDIR, CMD, EXPOSE.
    assert_eq!(rows.len(), 7, "{}", run.stdout);
    let app_id = &image_id(&sandbox, "app:1")[7..19];
    let base_id = &image_id(&sandbox, "base:1")[7..19];
    assert_eq!(rows[0][0], app_id);
    assert!(rows[0][2].starts_with("EXPOSE"), "{:?}", rows[0]);
    // Docker 20.10.24 shows no IDs below the image (a BuildKit-built image has no parent).
    assert_eq!(rows[4][0], "<missing>", "not the base's ID {base_id}");
    assert!(rows[4][2].starts_with("LABEL"), "{:?}", rows[4]);
    assert_eq!(rows[1][0], "<missing>");
    assert_eq!(rows[6][2], "COPY a.txt /a.txt # buildkit");
    assert_eq!(rows[1][3], "0B", "metadata entries have no layer");
    assert!(
        rows[3][3] != "0B",
        "COPY entries have a layer: {:?}",
        rows[3]
    );

    let quiet = sandbox
        .bld(&["image", "history", "-q", "--no-trunc", "app:1"])
        .ok();
    assert_eq!(
        quiet.stdout.lines().next(),
        Some(image_id(&sandbox, "app:1").as_str())
    );
    let json = sandbox.bld(&["history", "--format", "json", "app:1"]).ok();
    let first: serde_json::Value =
        serde_json::from_str(json.stdout.lines().next().expect("line")).expect("json");
    assert!(
        first["CreatedBy"]
            .as_str()
            .is_some_and(|c| c.starts_with("EXPOSE"))
    );
    let missing = sandbox.bld(&["history", "nope"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("no such image"),
        "{}",
        missing.stderr
    );
}

#[test]
fn the_images_and_history_tables_are_pinned() {
    let sandbox = store_with_images();
    for (name, args) in [
        ("table_images", &["images"][..]),
        ("table_images_all_digests", &["images", "-a", "--digests"]),
        ("table_history", &["history", "app:1"]),
        (
            "table_history_no_trunc",
            &["history", "--no-trunc", "app:1"],
        ),
        (
            "table_images_format",
            &[
                "images",
                "--format",
                "table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}",
            ],
        ),
        (
            "table_history_format",
            &[
                "history",
                "--format",
                "table {{.ID}}\\t{{.CreatedBy}}",
                "base:1",
            ],
        ),
    ] {
        let run = sandbox.bld(args).ok();
        crate::support::assert_run_snapshot!(name, sandbox, run);
    }
}

/// Docker's own `--format` usages, with what Docker prints for them.
#[test]
fn dockers_format_templates_print_what_docker_prints() {
    let sandbox = store_with_images();
    let format = |args: &[&str]| sandbox.bld(args).ok().stdout;
    let id = image_id(&sandbox, "app:1");
    let inspect = |template: &str| format(&["image", "inspect", "--format", template, "app:1"]);
    assert_eq!(
        inspect("{{.Config.Env}}"),
        "[PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin A=1]\n"
    );
    assert_eq!(
        inspect("{{json .Config.Labels}} {{json .Config.Cmd}}"),
        "{\"team\":\"core\"} [\"/b.txt\"]\n"
    );
    assert_eq!(
        inspect("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}} {{end}}"),
        "team=core \n"
    );
    assert_eq!(inspect("{{printf \"%s\" .Id}}"), format!("{id}\n"));
    assert_eq!(
        inspect("{{printf \"%.19s|%-6s|%d\" .Id .Os (len .RootFS.Layers)}}"),
        format!("{}|linux |3\n", &id[..19])
    );
    assert_eq!(
        inspect("{{.RootFS.Type}} {{index .RepoTags 0}} {{.Config.WorkingDir}}"),
        "layers app:1 /srv\n"
    );
    assert_eq!(
        inspect("{{range $i, $t := .RepoTags}}{{$i}}={{$t}};{{end}}"),
        "0=app:1;1=registry.example:5000/team/app:v1;\n"
    );
    let json_config: serde_json::Value =
        serde_json::from_str(&inspect("{{json .Config}}")).expect("JSON");
    assert_eq!(json_config["WorkingDir"], "/srv");
    // `table` prints Docker's header and aligns the columns with its tabwriter.
    assert_eq!(
        format(&[
            "images",
            "--format",
            "table {{.Repository}}\\t{{.Tag}}",
            "app"
        ]),
        // Docker 20.10.24's tabwriter: at least 10 wide, 3 apart.
        "REPOSITORY   TAG\napp          1\n"
    );
    assert_eq!(
        format(&["images", "--format", "table", "app"]),
        format(&["images", "app"]),
        "`table` alone is the default table"
    );
    // `inspect` has no tables: Docker 20.10.24 prints `table` as text.
    assert_eq!(inspect("table {{.Id}}"), format!("table {id}\n"));
    // An unknown key is an error (Docker 20.10.24's words, exit 1), not `<no value>`.
    let unknown = sandbox.bld(&["inspect", "--format", "{{.Nope}}", "app:1"]);
    crate::errors::fails_with(&unknown, &[]);
    assert_eq!(
        unknown.stderr,
        "error: template parsing error: template: :1:2: executing \"\" at <.Nope>: map has no entry for key \"Nope\"\n"
    );
    let unknown = sandbox.bld(&["history", "--format", "x{{.Nope}}", "app:1"]);
    assert_eq!(
        unknown.stderr,
        "error: template parsing error: template: :1:3: executing \"\" at <.Nope>: can't evaluate field Nope in type *image.historyContext\n"
    );
    // Empty values as Docker prints them for a BuildKit image (Docker 20.10.24), and
    // ArgsEscaped, which BuildKit sets with a CMD (app:1 has one).
    assert_eq!(
        inspect(
            "{{.RepoDigests}}|{{.Config.Entrypoint}}|{{.Config.Healthcheck}}|{{.Config.ArgsEscaped}}|{{.Parent}}|{{.ContainerConfig.Labels}}"
        ),
        "[]|[]|<nil>|true||map[]\n"
    );
    // The last history entry's comment, as Docker shows it (BuildKit's is
    // `buildkit.dockerfile.v0`; bld names itself).
    assert_eq!(inspect("{{.Comment}}"), "bld.dockerfile.v0\n");
}
