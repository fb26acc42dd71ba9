//! Why an action ran: the named parts of its key (its inputs by name with their digests, and
//! its parameters), kept in the store beside the action cache for the last run of each action
//! (by where it was built from, target label and output name, as Bazel keeps its action cache
//! by output), and what differs between that run and this one.
//!
//! `<store>/explain/<hex>`: `{"key": "sha256:…", "inputs": {NAME: "sha256:…@MODE"},
//! "params": …}`, `<hex>` the sha256 of the action's owner label and output name. The
//! parameters are the action's definition as JSON, with each input named instead of numbered;
//! one that serializes to more than [`MAX_PARAMS`] bytes is kept as its digest, and more than
//! [`MAX_INPUTS`] inputs as theirs, so a record stays small and bounded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bld_core::Digest;
use bld_graph::{Action, ActionGraph, ActionId, ActionKind, Input, InputIdentity};
use bld_store::Store;
use serde_json::{Value, json};

/// The largest parameter JSON kept as it is.
const MAX_PARAMS: usize = 64 * 1024;
/// The most inputs kept by name.
const MAX_INPUTS: usize = 20_000;
/// The most differences one action's reasons list.
const MAX_REASONS: usize = 8;

/// The named parts of an action's key.
pub(crate) struct Parts(Value);

/// How a record names an action's input: a source by its path, another action's output by
/// the instruction it comes from, else by its target and output.
fn input_name(graph: &ActionGraph, input: &Input) -> String {
    match input {
        Input::Source(path) => path.clone(),
        // Several actions come from one instruction: the output tells them apart, and
        // reasons show the part before it.
        Input::Output(dep) => {
            let dep = graph.get(*dep);
            format!("{}{OUTPUT_MARK}{}", dep.name(), dep.output_name)
        }
    }
}

/// Between an input's name as shown and the output that tells it apart.
const OUTPUT_MARK: char = '\u{1f}';

/// An input's name as a reason shows it.
fn shown_name(name: &str) -> &str {
    name.split(OUTPUT_MARK).next().unwrap_or(name)
}

/// The parts of `action`'s key, given its inputs' identities.
pub(crate) fn parts(
    graph: &ActionGraph,
    action: &Action,
    identity: &dyn Fn(&Input) -> InputIdentity,
) -> Parts {
    let inputs = action.inputs();
    let named: BTreeMap<String, String> = inputs
        .iter()
        .map(|input| {
            let id = identity(input);
            (
                input_name(graph, input),
                format!("{}@{:04o}", id.digest, id.mode),
            )
        })
        .collect();
    let inputs = if named.len() > MAX_INPUTS {
        let all: Vec<&String> = named.iter().flat_map(|(k, v)| [k, v]).collect();
        json!({ "(all inputs)": Digest::of(format!("{all:?}").as_bytes()).to_string() })
    } else {
        json!(named)
    };
    let mut params = serde_json::to_value(&action.kind).unwrap_or(Value::Null);
    name_outputs(graph, &mut params);
    let text = params.to_string();
    if text.len() > MAX_PARAMS {
        params = json!({ "(parameters)": Digest::of(text.as_bytes()).to_string() });
    }
    Parts(json!({ "inputs": inputs, "params": params }))
}

/// Replaces each `{"Output": N}` (an input's action id, which differs from build to build) in
/// `value` by the action's name.
fn name_outputs(graph: &ActionGraph, value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let (1, Some(Value::Number(n))) = (map.len(), map.get("Output")) {
                if let Some(index) = n.as_u64().and_then(|i| usize::try_from(i).ok())
                    && index < graph.len()
                {
                    let name = input_name(graph, &Input::Output(ActionId::from_index(index)));
                    map.insert("Output".to_owned(), Value::String(name));
                }
                return;
            }
            map.values_mut().for_each(|v| name_outputs(graph, v));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| name_outputs(graph, v)),
        _ => {}
    }
}

/// Where the last run of `action` is recorded: by where it was built from (the workspace, or
/// a Dockerfile build's context and Dockerfile), its target and its output.
fn record_path(store: &Store, root: &Path, action: &Action) -> PathBuf {
    let file = action
        .origin
        .as_ref()
        .map(|at| at.file.as_str())
        .unwrap_or_default();
    let id = Digest::of(
        format!(
            "{}\n{file}\n{}\n{}",
            root.display(),
            action.owner,
            action.output_name
        )
        .as_bytes(),
    );
    store.root().join("explain").join(id.hex())
}

/// Why `action` (of key `key` and parts `parts`) runs: what differs from its last run, or
/// that there was none, or that the cache was not asked (`ignored`).
pub(crate) fn reasons(
    store: &Store,
    root: &Path,
    graph: &ActionGraph,
    action: &Action,
    key: &Digest,
    parts: &Parts,
    ignored: bool,
) -> Vec<String> {
    if ignored {
        return vec!["the cache was not used for it (--no-cache)".to_owned()];
    }
    let Some(last) = std::fs::read(record_path(store, root, action))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
    else {
        return vec!["it was never built before (first build)".to_owned()];
    };
    if last["key"].as_str() == Some(&key.to_string()) {
        return vec!["its cached result was missing or damaged (its key is unchanged)".to_owned()];
    }
    let kind = |params: &Value| -> String {
        params
            .as_object()
            .and_then(|o| o.keys().next().cloned())
            .unwrap_or_default()
    };
    let (was, is) = (kind(&last["params"]), kind(&parts.0["params"]));
    if was != is {
        return vec![format!(
            "it is another kind of step than at its last run ({was} → {is}): the instructions around it changed"
        )];
    }
    let mut reasons = input_changes(graph, action, &last["inputs"], &parts.0["inputs"]);
    param_changes("", &last["params"], &parts.0["params"], &mut reasons);
    if reasons.is_empty() {
        reasons.push("its key is encoded differently (a newer bld)".to_owned());
    }
    if reasons.len() > MAX_REASONS {
        let more = reasons.len() - MAX_REASONS;
        reasons.truncate(MAX_REASONS);
        reasons.push(format!("and {more} more changes"));
    }
    reasons
}

/// Keeps `parts` as those of the last run of `action`, of key `key`. A record that cannot be
/// written costs a later `why` its answer, nothing more.
pub(crate) fn remember(store: &Store, root: &Path, action: &Action, key: &Digest, parts: Parts) {
    let Parts(mut value) = parts;
    value["key"] = Value::String(key.to_string());
    let path = record_path(store, root, action);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = store.write_atomically(&path, value.to_string().as_bytes());
}

/// `sha256:0123456789ab`: a digest as a reason shows it.
fn short(value: &str) -> String {
    let digest = value.split('@').next().unwrap_or(value);
    digest.chars().take("sha256:".len() + 12).collect()
}

/// How the inputs differ: changed, new and gone, by name.
fn input_changes(graph: &ActionGraph, action: &Action, last: &Value, now: &Value) -> Vec<String> {
    let (Some(last), Some(now)) = (last.as_object(), now.as_object()) else {
        return Vec::new();
    };
    let base_images: BTreeMap<String, &str> = action
        .inputs()
        .into_iter()
        .filter_map(|input| match input {
            Input::Output(dep) => match &graph.get(*dep).kind {
                ActionKind::StoreImage(_) | ActionKind::PullImage(_) => {
                    let name = input_name(graph, input);
                    let dep = graph.get(*dep);
                    let shown = dep
                        .output_name
                        .strip_prefix("from/")
                        .unwrap_or(&dep.output_name);
                    Some((name, shown))
                }
                _ => None,
            },
            Input::Source(_) => None,
        })
        .collect();
    let mut reasons = Vec::new();
    for (key, value) in now {
        let name = shown_name(key);
        let value = value.as_str().unwrap_or_default();
        match last.get(key).and_then(Value::as_str) {
            None => reasons.push(format!("`{name}` is a new input")),
            Some(old) if old == value => {}
            Some(old) if short(old) == short(value) => {
                let mode = |v: &str| v.rsplit('@').next().unwrap_or_default().to_owned();
                reasons.push(format!(
                    "`{name}` changed mode ({} → {})",
                    mode(old),
                    mode(value)
                ));
            }
            Some(old) => reasons.push(match base_images.get(key) {
                Some(image) => format!("the base image `{image}` moved to {}", short(value)),
                None if key.contains(OUTPUT_MARK) => format!(
                    "its input `{name}` was rebuilt with different bytes ({} → {})",
                    short(old),
                    short(value)
                ),
                None => format!("`{name}` changed ({} → {})", short(old), short(value)),
            }),
        }
    }
    for key in last.keys().filter(|key| !now.contains_key(*key)) {
        reasons.push(format!("`{}` is no longer an input", shown_name(key)));
    }
    reasons
}

/// How the parameters differ, by their path in the definition (`RunStep.env`); a step's
/// environment entries (its `ARG`s, `--build-arg`s) by name.
fn param_changes(path: &str, last: &Value, now: &Value, reasons: &mut Vec<String>) {
    if last == now {
        return;
    }
    match (last, now) {
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
                let inner = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let null = Value::Null;
                param_changes(
                    &inner,
                    a.get(key).unwrap_or(&null),
                    b.get(key).unwrap_or(&null),
                    reasons,
                );
            }
        }
        (Value::Array(a), Value::Array(b)) if path.ends_with(".env") => env_changes(a, b, reasons),
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (index, (a, b)) in a.iter().zip(b).enumerate() {
                param_changes(&format!("{path}[{index}]"), a, b, reasons);
            }
        }
        _ => reasons.push(format!(
            "its `{path}` changed from `{}` to `{}`",
            shown(last),
            shown(now)
        )),
    }
}

/// `KEY=VALUE` entries that differ, as the build arguments they come from.
fn env_changes(last: &[Value], now: &[Value], reasons: &mut Vec<String>) {
    let pairs = |values: &[Value]| -> BTreeMap<String, String> {
        values
            .iter()
            .filter_map(Value::as_str)
            .map(|entry| {
                let (k, v) = entry.split_once('=').unwrap_or((entry, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect()
    };
    let (last, now) = (pairs(last), pairs(now));
    for (name, value) in &now {
        match last.get(name) {
            Some(old) if old == value => {}
            Some(old) => reasons.push(format!(
                "`--build-arg {name}` changed from `{old}` to `{value}`"
            )),
            None => reasons.push(format!("`--build-arg {name}` was set to `{value}`")),
        }
    }
    for name in last.keys().filter(|name| !now.contains_key(*name)) {
        reasons.push(format!("`--build-arg {name}` is no longer set"));
    }
}

/// A parameter value as a reason shows it: at most 60 characters.
fn shown(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Null => "(none)".to_owned(),
        other => other.to_string(),
    };
    if text.chars().count() > 60 {
        text.chars().take(59).collect::<String>() + "…"
    } else {
        text
    }
}
