//! `bld why TARGET|IMAGE` and `bld build --explain[=FILE]`: which actions of a build ran
//! instead of hitting the cache, and why (what differs from their last run: the executor keeps
//! the named parts of each action's key in the store).
//!
//! Each build leaves a record in `<store>/explain/builds/<hex>.json` (one per thing built: a
//! workspace's target set, or a Dockerfile build's tags and image; the newest [`KEPT_BUILDS`]
//! are kept): `{"when" (milliseconds since 1970), "names", "actions", "ran": [{"action",
//! "targets", "reasons"}]}`. `bld why` reads the newest record that names what it is asked about.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use bld_exec::ExecReport;
use bld_graph::{ActionGraph, ActionId};
use bld_store::Store;
use clap::Args;
use serde_json::{Value, json};

use crate::Failure;

/// How many build records the store keeps.
const KEPT_BUILDS: usize = 100;

/// Arguments of `bld why`.
#[derive(Args)]
pub struct WhyArgs {
    /// A target of the last workspace build (`//app:image`), or an image a Dockerfile build
    /// made: a tag (`app:1`), a digest or an image ID.
    what: String,
}

/// One action of a build that ran: how it is named, the targets that needed it, and why.
struct Ran {
    action: String,
    targets: Vec<String>,
    reasons: Vec<String>,
}

/// The actions of `report` that ran, one entry per instruction: several actions come from
/// one (a `COPY`'s layer and the image after it), and their reasons are said together, less
/// those that only say the instruction's own other actions changed.
fn ran(graph: &ActionGraph, report: &ExecReport, targets: &[(String, Vec<ActionId>)]) -> Vec<Ran> {
    // A build where nothing ran (a cached rebuild) needs no target's closure.
    let closures: Vec<(&String, HashSet<ActionId>)> = if report.ran == 0 {
        Vec::new()
    } else {
        targets
            .iter()
            .map(|(name, outputs)| (name, graph.closure(outputs).into_iter().collect()))
            .collect()
    };
    let mut ran: Vec<Ran> = Vec::new();
    for (index, reasons) in report.reasons.iter().enumerate() {
        if reasons.is_empty() {
            continue;
        }
        let id = ActionId::from_index(index);
        let action = graph.get(id);
        let name = action.name();
        let needed_by = closures
            .iter()
            .filter(|(_, closure)| closure.contains(&id))
            .map(|(target, _)| (*target).clone());
        let entry = match ran.iter().position(|r| r.action == name) {
            Some(at) => &mut ran[at],
            None => {
                ran.push(Ran {
                    action: name.clone(),
                    targets: Vec::new(),
                    reasons: Vec::new(),
                });
                ran.last_mut().expect("invariant: just pushed")
            }
        };
        let own = format!("its input `{name}` ");
        for reason in reasons {
            if !reason.starts_with(&own) && !entry.reasons.contains(reason) {
                entry.reasons.push(reason.clone());
            }
        }
        for target in needed_by {
            if !entry.targets.contains(&target) {
                entry.targets.push(target);
            }
        }
    }
    ran
}

/// After a build: prints why each action that ran did with `--explain` (to stderr, or to the
/// file it names), and records the build for `bld why`. `targets` are what was built (a
/// target's label, or an image's tags and digest) with the actions that make it; `names` every
/// name `bld why` may be asked by.
pub(crate) fn after_build(
    store: &Store,
    graph: &ActionGraph,
    report: &ExecReport,
    targets: &[(String, Vec<ActionId>)],
    names: &[String],
    explain: Option<&Option<PathBuf>>,
) -> Result<(), Failure> {
    let ran = ran(graph, report, targets);
    if let Some(file) = explain {
        let text = render(&ran);
        match file {
            Some(path) => std::fs::write(path, text).map_err(|e| {
                Failure::user(format!("--explain: cannot write `{}`: {e}", path.display()))
            })?,
            None => eprint!("{text}"),
        }
    }
    let when = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    // How each action was satisfied, for `bld graph`'s colours.
    let outcomes: serde_json::Map<String, Value> = report
        .outcomes
        .iter()
        .enumerate()
        .filter_map(|(index, outcome)| {
            let said = match (*outcome)? {
                bld_exec::Outcome::Ran => "ran",
                bld_exec::Outcome::Cached => "cache hit",
                bld_exec::Outcome::RemoteCached => "remote hit",
            };
            let action = graph.get(ActionId::from_index(index));
            Some((crate::aquery::outcome_key(action), Value::from(said)))
        })
        .collect();
    let record = json!({
        "when": when,
        "names": names,
        "outcomes": outcomes,
        "actions": report.outcomes.iter().filter(|o| o.is_some()).count(),
        "ran": ran.iter().map(|r| json!({"action": r.action, "targets": r.targets, "reasons": r.reasons})).collect::<Vec<_>>(),
    });
    let dir = store.root().join("explain/builds");
    let _ = std::fs::create_dir_all(&dir);
    let id = bld_core::Digest::of(names.join("\n").as_bytes());
    let _ = store.write_atomically(
        &dir.join(format!("{}.json", id.hex())),
        record.to_string().as_bytes(),
    );
    prune(&dir);
    Ok(())
}

/// [`after_build`] of a workspace build: what it built are its targets.
pub(crate) fn after_workspace_build(
    store: &Store,
    analysis: &bld_starlark::Analysis,
    report: &ExecReport,
    explain: Option<&Option<PathBuf>>,
) -> Result<(), Failure> {
    let targets: Vec<(String, Vec<ActionId>)> = analysis
        .targets
        .iter()
        .map(|t| {
            let outputs = t.outputs.iter().filter_map(|o| o.action).collect();
            (t.label.to_string(), outputs)
        })
        .collect();
    let names: Vec<String> = targets.iter().map(|(label, _)| label.clone()).collect();
    after_build(store, &analysis.graph, report, &targets, &names, explain)
}

/// [`after_build`] of a Dockerfile build: what it built is the image of the action `image`,
/// named by its `tags`, its digest and its ID.
pub(crate) fn after_dockerfile_build(
    store: &Store,
    graph: &ActionGraph,
    report: &ExecReport,
    image: ActionId,
    tags: &[bld_core::ImageReference],
    explain: Option<&Option<PathBuf>>,
) -> Result<(), Failure> {
    let mut names: Vec<String> = tags
        .iter()
        .flat_map(|t| [t.familiar(), t.to_string()])
        .collect();
    if let Some(bld_exec::ActionOutput::Image {
        manifest, config, ..
    }) = report.outputs[image.index()]
    {
        names.extend([manifest.to_string(), config.to_string()]);
    }
    let target = names.first().cloned().unwrap_or_else(|| "image".to_owned());
    after_build(
        store,
        graph,
        report,
        &[(target, vec![image])],
        &names,
        explain,
    )
}

/// How the newest build that named one of `targets` satisfied each of its actions, by
/// [`crate::aquery::outcome_key`].
pub(crate) fn last_outcomes(
    store: &Store,
    targets: &[String],
) -> std::collections::BTreeMap<String, String> {
    let Some(record) = newest(store, &|record| targets.iter().any(|t| names(record, t))) else {
        return std::collections::BTreeMap::new();
    };
    record["outcomes"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .collect()
}

/// The newest build record that `wanted` takes.
fn newest(store: &Store, wanted: &dyn Fn(&Value) -> bool) -> Option<Value> {
    let dir = store.root().join("explain/builds");
    std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .filter_map(|e| serde_json::from_slice::<Value>(&std::fs::read(e.ok()?.path()).ok()?).ok())
        .filter(|record| wanted(record))
        .max_by_key(|r| r["when"].as_u64().unwrap_or(0))
}

/// `ACTION\n  ran because REASON; REASON\n` for each.
fn render(ran: &[Ran]) -> String {
    ran.iter()
        .map(|r| format!("{}\n  ran because {}\n", r.action, r.reasons.join("; ")))
        .collect()
}

/// Keeps the newest [`KEPT_BUILDS`] records of `dir`.
fn prune(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut records: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(|e| {
            let e = e.ok()?;
            Some((e.metadata().ok()?.modified().ok()?, e.path()))
        })
        .collect();
    if records.len() <= KEPT_BUILDS {
        return;
    }
    records.sort();
    for (_, path) in &records[..records.len() - KEPT_BUILDS] {
        let _ = std::fs::remove_file(path);
    }
}

/// Whether the build record `record` names `what`: a target label (`//app` meaning
/// `//app:app`), a tag, a digest or the start of one, an image ID.
fn names(record: &Value, what: &str) -> bool {
    let full = match what.strip_prefix("//") {
        Some(rest) if !rest.contains(':') => {
            let last = rest.rsplit('/').next().unwrap_or(rest);
            format!("{what}:{last}")
        }
        _ => what.to_owned(),
    };
    let hex = what.strip_prefix("sha256:").unwrap_or(what);
    record["names"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|name| {
            name == what
                || name == full
                || (hex.len() >= 12
                    && hex.chars().all(|c| c.is_ascii_hexdigit())
                    && name
                        .strip_prefix("sha256:")
                        .is_some_and(|h| h.starts_with(hex)))
        })
}

/// `bld why WHAT`: the newest build of it, each action that ran and why.
pub fn run(args: WhyArgs, store_root: &Path) -> Result<(), Failure> {
    let store = Store::open(store_root)?;
    let Some(record) = newest(&store, &|record| names(record, &args.what)) else {
        return Err(Failure::user(format!(
            "no build of `{}` is recorded in this store: build it first (`bld build`)",
            args.what
        )));
    };
    let is_target = args.what.starts_with("//");
    let ran: Vec<&Value> = record["ran"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            !is_target
                || r["targets"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| names(&json!({"names": [t]}), &args.what)))
        })
        .collect();
    let when = bld_core::rfc3339(record["when"].as_u64().unwrap_or(0) / 1000);
    let actions = record["actions"].as_u64().unwrap_or(0);
    if ran.is_empty() {
        println!(
            "{} (built {when}): nothing ran; its actions were cache hits ({actions} in the build)",
            args.what
        );
        return Ok(());
    }
    println!(
        "{} (built {when}): {} of the build's {actions} actions ran",
        args.what,
        ran.len()
    );
    for r in ran {
        let reasons: Vec<&str> = r["reasons"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        println!(
            "  {}\n    ran because {}",
            r["action"].as_str().unwrap_or_default(),
            reasons.join("; ")
        );
    }
    Ok(())
}
