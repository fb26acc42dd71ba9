//! The key encoding is pinned: every kind, every mount, every layer entry and every config
//! field is fed one sample action, and its key must stay the one a store written by an earlier
//! bld holds. A change here means bumping `KEY_VERSION` (and every cache miss that follows).

use bld_core::{Digest, Healthcheck, HistoryStep, ImageConfigSpec, Label};
use bld_graph::{
    Action, ActionGraph, ActionKind, AssembleImage, Below, CopyFromImage, EntryContent,
    ExistingDir, FetchDebFile, FileMode, Input, InputIdentity, Landing, LandingOf, LayerEntry,
    PackLayer, ProbeDestination, RunMount, RunStep, StoreImage, ViewEntry, WriteFile,
};

fn action(kind: ActionKind) -> Action {
    Action {
        owner: Label::new("pkg", "target").expect("label"),
        output_name: "out".into(),
        origin: None,
        kind,
    }
}

/// A fixed identity per input: the digest of its name, mode 0755 for sources.
fn identity(input: &Input) -> InputIdentity {
    match input {
        Input::Source(path) => InputIdentity {
            digest: Digest::of(path.as_bytes()),
            mode: 0o755,
        },
        Input::Output(id) => InputIdentity {
            digest: Digest::of(format!("output {}", id.index()).as_bytes()),
            mode: 0,
        },
    }
}

fn samples() -> Vec<(&'static str, ActionKind)> {
    let mut graph = ActionGraph::new();
    let image = Input::Output(graph.add(action(ActionKind::StoreImage(StoreImage {
        manifest: Digest::of(b"base"),
    }))));
    vec![
        (
            "write_file",
            ActionKind::WriteFile(WriteFile {
                content: b"hello".to_vec(),
                executable: true,
            }),
        ),
        ("pack_layer", pack_layer_sample(&image)),
        ("pack_layer_below", pack_layer_below_sample()),
        (
            "assemble_image",
            ActionKind::AssembleImage(Box::new(AssembleImage {
                base: Some(image.clone()),
                layers: vec![source("l1"), image.clone()],
                config: config_sample(),
                created: 11,
            })),
        ),
        (
            "assemble_image_scratch",
            ActionKind::AssembleImage(Box::new(AssembleImage {
                base: None,
                layers: vec![],
                config: ImageConfigSpec::default(),
                created: 0,
            })),
        ),
        (
            "run_step",
            ActionKind::RunStep(Box::new(run_step_sample(&image))),
        ),
        ("copy_from_image", copy_from_image_sample(&image, None)),
        (
            "copy_from_image_known",
            copy_from_image_sample(&image, Some(known_landing())),
        ),
        (
            "copy_from_image_probed",
            copy_from_image_sample(&image, Some(LandingOf::Probed(source("landing")))),
        ),
        (
            "probe_destination",
            ActionKind::ProbeDestination(Box::new(ProbeDestination {
                image: image.clone(),
                dest: "/app".into(),
                user: Some("app".into()),
                for_chown: true,
            })),
        ),
        (
            "fetch_deb_file",
            ActionKind::FetchDebFile(FetchDebFile {
                package: "busybox-static".into(),
                version: "1:1.35.0-4+deb12u1+b1".into(),
                sha256: Digest::of(b"deb"),
                path: "bin/busybox".into(),
            }),
        ),
        (
            "store_image",
            ActionKind::StoreImage(StoreImage {
                manifest: Digest::of(b"manifest"),
            }),
        ),
    ]
}

/// `/srv/www` through an existing `/srv` (0750, 5:6), as analysis finds it.
fn known_landing() -> LandingOf {
    LandingOf::Known(Landing {
        path: "srv/www".into(),
        is_dir: true,
        existing: vec![ExistingDir {
            path: "srv".into(),
            mode: 0o750,
            uid: 5,
            gid: 6,
        }],
        user: Some((7, 8)),
    })
}

fn copy_from_image_sample(image: &Input, landing: Option<LandingOf>) -> ActionKind {
    ActionKind::CopyFromImage(Box::new(CopyFromImage {
        image: image.clone(),
        sources: vec!["/app".into(), "/lib/*.so".into()],
        dest: "/opt/".into(),
        workdir: "/w".into(),
        excludes: vec!["*.md".into()],
        parents: true,
        chown: Some((10, 20)),
        chown_from_landing: matches!(landing, Some(LandingOf::Probed(_))),
        chmod: Some(0o640),
        mtime: 12,
        landing,
    }))
}

fn source(path: &str) -> Input {
    Input::Source(path.to_owned())
}

fn pack_layer_sample(image: &Input) -> ActionKind {
    let entry = |path: &str, content: EntryContent| LayerEntry {
        path: path.into(),
        content,
        uid: 1,
        gid: 2,
    };
    ActionKind::PackLayer(PackLayer {
        entries: vec![
            entry(
                "bin/exact",
                EntryContent::File {
                    input: source("a"),
                    mode: FileMode::Exact(0o700),
                },
            ),
            entry(
                "bin/x",
                EntryContent::File {
                    input: source("b"),
                    mode: FileMode::KeepExecutableBit,
                },
            ),
            entry(
                "bin/keep",
                EntryContent::File {
                    input: image.clone(),
                    mode: FileMode::KeepPermissions,
                },
            ),
            entry("etc", EntryContent::Dir { mode: 0o750 }),
            entry(
                "link",
                EntryContent::Symlink {
                    target: "bin/x".into(),
                },
            ),
            entry(
                "",
                EntryContent::Archive {
                    input: source("rootfs.tar"),
                },
            ),
        ],
        mtime: 9,
        below: None,
    })
}

/// A layer placed once the image below is known (`COPY f /app` over a built image).
fn pack_layer_below_sample() -> ActionKind {
    ActionKind::PackLayer(PackLayer {
        entries: vec![LayerEntry {
            path: "app".into(),
            content: EntryContent::Dir { mode: 0o755 },
            uid: 1,
            gid: 2,
        }],
        mtime: 9,
        below: Some(Below {
            landing: source("landing"),
            dest: "app".into(),
            file_name: Some("f".into()),
            must_be_dir: true,
            owner: Some((3, 4)),
            empty_if_dir: true,
            chown_all: true,
        }),
    })
}

fn run_step_sample(image: &Input) -> RunStep {
    RunStep {
        image: image.clone(),
        args: vec!["/bin/sh".into(), "-c".into(), "make".into()],
        env: vec!["PATH=/bin".into()],
        cwd: "/src".into(),
        user: "1000:1000".into(),
        host_network: true,
        mounts: vec![
            RunMount::Cache {
                target: "/root/.cache".into(),
                id: "go".into(),
                mode: 0o755,
                uid: 3,
                gid: 4,
            },
            RunMount::BindImage {
                target: "/b".into(),
                image: image.clone(),
                source: "/usr".into(),
                writable: true,
            },
            RunMount::BindContext {
                target: "/ctx".into(),
                source: "src".into(),
                entries: vec![
                    ViewEntry::Dir {
                        path: "".into(),
                        mode: 0o755,
                    },
                    ViewEntry::File {
                        path: "a.c".into(),
                        input: source("src/a.c"),
                        mode: 0o644,
                    },
                    ViewEntry::Symlink {
                        path: "l".into(),
                        target: "a.c".into(),
                    },
                ],
                writable: false,
            },
            RunMount::Inline {
                target: "/dev/pipes/x".into(),
                content: "#!/bin/sh\n".into(),
                mode: 0o755,
            },
            RunMount::Tmpfs {
                target: "/tmp".into(),
                size: Some(1 << 20),
            },
            RunMount::Secret {
                id: "token".into(),
                target: "/run/secrets/token".into(),
                required: true,
                mode: 0o400,
                uid: 5,
                gid: 6,
            },
        ],
        volumes: vec!["/data".into()],
        mtime: 7,
        extra_hosts: Vec::new(),
    }
}

fn config_sample() -> ImageConfigSpec {
    ImageConfigSpec {
        env: vec![("A".into(), "1".into())],
        cmd: Some(vec!["run".into()]),
        entrypoint: Some(vec!["/entry".into()]),
        workdir: Some("/w".into()),
        user: Some("u".into()),
        labels: vec![("l".into(), "v".into())],
        exposed_ports: vec!["80/tcp".into()],
        volumes: vec!["/v".into()],
        stop_signal: Some("SIGINT".into()),
        healthcheck: Some(Healthcheck {
            test: vec!["CMD".into(), "true".into()],
            interval_ns: 1,
            timeout_ns: 2,
            start_period_ns: 3,
            start_interval_ns: 4,
            retries: 5,
        }),
        on_build: vec!["RUN x".into()],
        clear_on_build: true,
        shell: Some(vec!["/bin/bash".into(), "-c".into()]),
        author: Some("me".into()),
        args_escaped: true,
        history: vec![HistoryStep {
            created_by: "COPY a /".into(),
            empty_layer: false,
            comment: Some("bld.dockerfile.v0".into()),
        }],
        os: "linux".into(),
        architecture: "amd64".into(),
    }
}

/// Keys computed by the encoding of `bld-action-key-v5` as first released (a kind whose output
/// for a key changed has a new tag, noted): `pack_layer/2`, `run_step/2` and `copy_from_image/3`
/// since gzip members are cut only past 1 MiB.
const PINNED: &[(&str, &str)] = &[
    (
        "write_file",
        "sha256:930e3788abbe5c105ddbb57ad515b5a51be26ff371aabd4c6d8ffade4f6a929a",
    ),
    (
        "pack_layer",
        "sha256:2539a8c796a6961fc55c6c6572358efb62f5020d22323dbace067dddc8428243",
    ),
    (
        "pack_layer_below",
        "sha256:e376af18e3a3f826e3b19ef012d17631cae4729be60e863b70bef5a68be04c11",
    ),
    (
        "assemble_image",
        "sha256:03c9cd544df6c8a26cb9be2029837af3612c9227a0cb2992c2dd1fb6b2ba6048",
    ),
    (
        "assemble_image_scratch",
        "sha256:4815912034db60f160204c1caadb25d2e9d6398b35d4b83bbbd2b1786b80b311",
    ),
    (
        "run_step",
        "sha256:1e4fd38bf677d426588bb606e302d8b1db38d4d79dba7a41da0f4f8dd7738018",
    ),
    (
        "copy_from_image",
        "sha256:13fc083bc827d547a1c90a1e1523a1498015caeb12c1df275ac81b8f2df048c3",
    ),
    (
        "copy_from_image_known",
        "sha256:30d5bb176a83e14377b9bfe2d0ee673773a15349ba20d6787bc034d324c91f93",
    ),
    (
        "copy_from_image_probed",
        "sha256:e69d04dea4421df1eeb4203e97661824bcfb0efbf3375165a41cb69f15ae8b6b",
    ),
    (
        "probe_destination",
        "sha256:46dce85aecacfc1f9e5b6842c5ff8bfd18ea7b3c1057b549fd801954e596ed06",
    ),
    (
        "fetch_deb_file",
        "sha256:9a89d0a22e32bf4bfd726382b12505d1bffa8d7ab7b1768fc94be7999d664e79",
    ),
    (
        "store_image",
        "sha256:bfbe8d0e7d11e824a386fd1a3c4f766aab567c752c6e22c14bc7f8cd4f716791",
    ),
];

#[test]
fn every_kind_keeps_its_v5_key() {
    let keys: Vec<(&str, String)> = samples()
        .into_iter()
        .map(|(name, kind)| (name, action(kind).key(&identity).to_string()))
        .collect();
    assert_eq!(bld_graph::KEY_VERSION, "bld-action-key-v5");
    let pinned: Vec<(&str, String)> = PINNED.iter().map(|(n, k)| (*n, k.to_string())).collect();
    assert_eq!(keys, pinned);
}
