//! The key encoding is pinned: every kind, every mount, every layer entry and every config
//! field is fed one sample action, and its key must stay the one a store written by an earlier
//! bld holds. A change here means bumping `KEY_VERSION` (and every cache miss that follows).

use bld_core::{Digest, Healthcheck, HistoryStep, ImageConfigSpec, Label};
use bld_graph::{
    Action, ActionGraph, ActionKind, AssembleImage, CopyFromImage, EntryContent, FetchDebFile,
    FileMode, Input, InputIdentity, LayerEntry, PackLayer, RunMount, RunStep, StoreImage,
    ViewEntry, WriteFile,
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
        (
            "copy_from_image",
            ActionKind::CopyFromImage(Box::new(CopyFromImage {
                image: image.clone(),
                sources: vec!["/app".into(), "/lib/*.so".into()],
                dest: "/opt/".into(),
                workdir: "/w".into(),
                excludes: vec!["*.md".into()],
                parents: true,
                chown: Some((10, 20)),
                chmod: Some(0o640),
                mtime: 12,
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

/// Keys computed by the encoding of `bld-action-key-v4` as first released (a kind whose output
/// for a key changed has a new tag, noted).
const PINNED: &[(&str, &str)] = &[
    (
        "write_file",
        "sha256:f7d30cfffbe4d41fead4052543107937bb8b1585487460181b65bbd0c1cc46fc",
    ),
    (
        "pack_layer",
        "sha256:42db51fdf526777ef68e876027de3ae6df223629c815399ab3a7566b82368618",
    ),
    // The config's encoding gained `args_escaped` and each history entry's `comment` (issue
    // 11): every image key changed with it, so no new tag (were sha256:66607c26… and
    // sha256:a876049e…).
    (
        "assemble_image",
        "sha256:1d067a39b06e7104cf7ffed04562f4bd4d4a6fa5b96f293f6e37c47d94148a7e",
    ),
    (
        "assemble_image_scratch",
        "sha256:844f1b4e028be54cbc7dfba0dbb6561215589644807e39ebe7c57bf720ee4efc",
    ),
    (
        "run_step",
        "sha256:258e9424df777af4511ad2da2df6998c7dfda766115cc0bb0bd1891438f22eac",
    ),
    // Tagged `copy_from_image/2` since it keeps the image's owners and makes implied
    // directories 0755 (was sha256:956b0d54…).
    (
        "copy_from_image",
        "sha256:ccbcea1cbb26be343cd887aba3d05e5a427a2bbd39d3df436ab570ddee530162",
    ),
    (
        "fetch_deb_file",
        "sha256:332cdc832c69ca6fc84ddcc9005d03c688b6b64bad947bd0b3dd7840a6af4016",
    ),
    (
        "store_image",
        "sha256:15e0e7aeb2ca1deef739778a4add08a837a5cfc3b9856c111b2f99bb9481f2c2",
    ),
];

#[test]
fn every_kind_keeps_its_v4_key() {
    let keys: Vec<(&str, String)> = samples()
        .into_iter()
        .map(|(name, kind)| (name, action(kind).key(&identity).to_string()))
        .collect();
    assert_eq!(bld_graph::KEY_VERSION, "bld-action-key-v4");
    let pinned: Vec<(&str, String)> = PINNED.iter().map(|(n, k)| (*n, k.to_string())).collect();
    assert_eq!(keys, pinned);
}
