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
fn status(container: &Container, now: u64) -> (String, &'static str) {
    match container.current_state() {
        State::Created => ("Created".to_owned(), "created"),
        State::Running { started, .. } => (
            format!("Up {}", human_duration(now.saturating_sub(started))),
            "running",
        ),
        State::Exited { code, finished, .. } => (
            format!(
                "Exited ({code}) {} ago",
                human_duration(now.saturating_sub(finished))
            ),
            "exited",
        ),
    }
}

fn object(container: &Container, trunc: bool, now: u64) -> Value {
    let command = container.args.join(" ");
    let command = if trunc {
        ellipsis(&command, 20)
    } else {
        command
    };
    let (status, state) = status(container, now);
    json!({
        "ID": if trunc { container.short_id().to_owned() } else { container.id.clone() },
        "Image": container.image,
        "Command": format!("\"{command}\""),
        "CreatedAt": crate::image::created_at(i64::try_from(container.created).ok()),
        "RunningFor": format!("{} ago", human_duration(now.saturating_sub(container.created))),
        "Status": status,
        "State": state,
        "Ports": "",
        "Names": container.name,
        "Size": "",
        "Labels": "",
        "Mounts": "",
        "Networks": "none",
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
        .map(|c| object(c, !args.no_trunc, now))
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
    print_object_table(
        &objects,
        &[
            ("ID", "CONTAINER ID"),
            ("Image", "IMAGE"),
            ("Command", "COMMAND"),
            ("RunningFor", "CREATED"),
            ("Status", "STATUS"),
            ("Ports", "PORTS"),
            ("Names", "NAMES"),
        ],
    );
    Ok(())
}
