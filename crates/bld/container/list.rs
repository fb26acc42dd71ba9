//! `bld ps`: the store's containers in Docker's columns (CONTAINER ID, IMAGE, COMMAND,
//! CREATED, STATUS, PORTS, NAMES), `-a`, `-q`, `--no-trunc` and `--format`.

use std::path::Path;

use bld_exec::containers::{self, Container, State};
use bld_store::Store;
use clap::Args;
use serde_json::{Value, json};

use crate::Failure;
use crate::image::{Fields, ellipsis, human_duration, print_formatted, print_object_table};

/// Arguments of `bld ps`.
#[derive(Args)]
pub(crate) struct PsArgs {
    /// Show every container (by default only running ones).
    #[arg(long, short)]
    all: bool,
    /// Show only their IDs.
    #[arg(long, short)]
    quiet: bool,
    /// Do not cut IDs and commands short.
    #[arg(long)]
    no_trunc: bool,
    /// Show each one's size: what it changed, and with its image (`virtual`).
    #[arg(long, short)]
    size: bool,
    /// Only containers matching: `status=created|running|exited`, `name=TEXT` (in the name),
    /// `id=PREFIX`, `ancestor=IMAGE` (as it was named), `exited=CODE`; repeatable.
    #[arg(long, short, value_name = "FILTER")]
    filter: Vec<String>,
    /// A Go template (`{{.ID}}`, `{{.Image}}`, `{{.Command}}`, `{{.RunningFor}}`,
    /// `{{.Status}}`, `{{.State}}`, `{{.Names}}`, …), `table …` or `json`.
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
}

/// Docker's column titles for `--format 'table …'`.
const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Status", "STATUS"),
    ("State", "STATE"),
    ("Ports", "PORTS"),
    ("Names", "NAMES"),
    ("Size", "SIZE"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
];

/// `STATUS` and `STATE` as Docker shows them.
fn status(store: &Store, container: &Container, now: u64) -> (String, &'static str) {
    match container.current_state() {
        State::Created => ("Created".to_owned(), "created"),
        State::Running { started, .. } => {
            let up = format!("Up {}", human_duration(now.saturating_sub(started)));
            match containers::runtime_status(store, container).as_deref() {
                Some("paused") => (format!("{up} (Paused)"), "paused"),
                _ => (up, "running"),
            }
        }
        State::Exited { code, finished, .. } => (
            format!(
                "Exited ({code}) {} ago",
                human_duration(now.saturating_sub(finished))
            ),
            "exited",
        ),
    }
}

/// `SIZE` as Docker shows it: the bytes of what the container changed, then with its image's.
fn size(store: &Store, container: &Container) -> String {
    let changed: u64 = walkdir::WalkDir::new(container.upper(store))
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .filter(std::fs::Metadata::is_file)
        .map(|m| m.len())
        .sum();
    let image: u64 = bld_oci::read_image(store, &container.manifest)
        .map(|(manifest, _)| {
            manifest
                .layers()
                .iter()
                .filter_map(|layer| layer.digest().to_string().parse().ok())
                .filter_map(|digest| bld_oci::content_size(store, &digest).ok())
                .sum()
        })
        .unwrap_or(0);
    format!(
        "{} (virtual {})",
        crate::image::human_size(changed),
        crate::image::human_size(changed + image)
    )
}

/// The names of what `container` mounts: volumes by name, binds by host path.
fn mounts(container: &Container) -> String {
    let names: Vec<String> = container
        .config
        .mounts
        .iter()
        .filter_map(|mount| match &mount.source {
            containers::MountSource::Volume { name, .. } => Some(ellipsis(name, 15)),
            containers::MountSource::Bind(path) => Some(path.display().to_string()),
            containers::MountSource::Tmpfs { .. } => None,
        })
        .collect();
    names.join(",")
}

fn object(store: &Store, container: &Container, trunc: bool, now: u64, sizes: bool) -> Value {
    let command = container.args.join(" ");
    let command = if trunc {
        ellipsis(&command, 20)
    } else {
        command
    };
    let (status, state) = status(store, container, now);
    json!({
        "ID": if trunc { container.short_id().to_owned() } else { container.id.clone() },
        "Image": container.image,
        "Command": format!("\"{command}\""),
        "CreatedAt": crate::image::created_at(i64::try_from(container.created).ok()),
        "RunningFor": format!("{} ago", human_duration(now.saturating_sub(container.created))),
        "Status": status,
        "State": state,
        "Ports": container
            .config
            .publish
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        "Names": container.name,
        "Size": if sizes { size(store, container) } else { String::new() },
        "Labels": "",
        "Mounts": mounts(container),
        "Networks": if container.config.host_network {
            "host"
        } else if container.config.bridge {
            "bridge"
        } else {
            "none"
        },
    })
}

/// Whether `container` passes the filter `text` (`key=value`).
fn passes(container: &Container, text: &str) -> Result<bool, Failure> {
    let (key, value) = text.split_once('=').ok_or_else(|| {
        Failure::user(format!(
            "bad format of filter (expected name=value): {text}"
        ))
    })?;
    let state = container.current_state();
    Ok(match key {
        "status" => {
            let name = match state {
                State::Created => "created",
                State::Running { .. } => "running",
                State::Exited { .. } => "exited",
            };
            name == value
        }
        "name" => container.name.contains(value),
        "id" => container.id.starts_with(value),
        "ancestor" => container.image == value || container.manifest.to_string() == value,
        "exited" => matches!(state, State::Exited { code, .. } if code.to_string() == value),
        _ => {
            return Err(Failure::user(format!(
                "invalid filter '{key}': expected status, name, id, ancestor or exited"
            )));
        }
    })
}

/// `bld ps`.
pub(crate) fn ps(args: PsArgs, store: &Path) -> Result<(), Failure> {
    let store = Store::open(store)?;
    let now = bld_exec::containers::now();
    // A filter on status or exit code looks at stopped containers too, as Docker's does.
    let all = args.all
        || args
            .filter
            .iter()
            .any(|f| f.starts_with("status=") || f.starts_with("exited="));
    let mut shown = Vec::new();
    for container in containers::list(&store)? {
        if !all && !matches!(container.current_state(), State::Running { .. }) {
            continue;
        }
        let mut kept = true;
        for filter in &args.filter {
            kept &= passes(&container, filter)?;
        }
        if kept {
            shown.push(container);
        }
    }
    if args.quiet {
        for container in &shown {
            let id = if args.no_trunc {
                container.id.as_str()
            } else {
                container.short_id()
            };
            println!("{id}");
        }
        return Ok(());
    }
    let objects: Vec<Value> = shown
        .iter()
        .map(|c| object(&store, c, !args.no_trunc, now, args.size))
        .collect();
    if let Some(format) = &args.format
        && print_formatted(
            &objects,
            format,
            Some(HEADERS),
            Fields::Struct("*formatter.ContainerContext"),
        )?
    {
        return Ok(());
    }
    let mut columns = vec![
        ("ID", "CONTAINER ID"),
        ("Image", "IMAGE"),
        ("Command", "COMMAND"),
        ("RunningFor", "CREATED"),
        ("Status", "STATUS"),
        ("Ports", "PORTS"),
        ("Names", "NAMES"),
    ];
    if args.size {
        columns.push(("Size", "SIZE"));
    }
    print_object_table(&objects, &columns);
    Ok(())
}
