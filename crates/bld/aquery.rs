//! `bld aquery EXPRESSION` (the actions of the targets a query yields, as `bazel aquery`
//! prints them: kind, key, inputs, outputs) and `bld graph EXPRESSION -o FILE.svg` (those
//! actions as a picture: Graphviz, each target and each Dockerfile stage a box of its own, the
//! last build's runs and hits coloured).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bld_core::Digest;
use bld_exec::ExecContext;
use bld_graph::{Action, ActionGraph, ActionId, Input};
use bld_store::Store;
use clap::Args;
use serde_json::{Value, json};

use crate::Failure;
use crate::build::{BuildSettings, Phases, analyzed, wanted_actions};

/// Arguments of `bld aquery`.
#[derive(Args)]
pub struct AqueryArgs {
    /// The targets: a pattern or a query expression (`deps(//app:image)`).
    expression: String,
    /// `text` (as `bazel aquery` prints) or `json`.
    #[arg(long, value_enum, default_value = "text", value_name = "FORMAT")]
    output: AqueryOutput,
}

/// `bld aquery --output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum AqueryOutput {
    Text,
    Json,
}

/// Arguments of `bld graph`.
#[derive(Args)]
pub struct GraphArgs {
    /// The targets: a pattern or a query expression.
    expression: String,
    /// Where the picture goes: `.svg`, `.png` or `.pdf` (drawn by Graphviz's `dot`), `.dot` or
    /// `-` (the DOT text itself).
    #[arg(short, long, value_name = "FILE", default_value = "-")]
    output: PathBuf,
}

/// The actions of what `expression` names, analyzed: the graph, the actions in dependency
/// order, and each one's key as far as it is known now.
struct Actions {
    graph: ActionGraph,
    order: Vec<ActionId>,
    keys: Vec<Option<Digest>>,
    targets: Vec<String>,
}

fn actions(expression: &str, store: &Store) -> Result<Actions, Failure> {
    let targets = crate::query::targets_of(expression)?;
    let patterns = crate::workspace_args::parse_patterns(&targets)?;
    let settings = BuildSettings::default();
    let (analysis, file_digests) =
        analyzed(&patterns, store, &settings, &mut Phases::new(false, None))?;
    let wanted = wanted_actions(&analysis);
    let context = ExecContext {
        workspace_root: patterns.workspace.root().to_owned(),
        store,
        file_digests: &file_digests,
        secrets: std::collections::HashMap::new(),
        ssh_agents: std::collections::HashMap::new(),
        ignore_cache: &bld_exec::use_cache,
        remote: None,
        keep_going: false,
    };
    let keys = bld_exec::known_keys(&analysis.graph, &wanted, &context);
    let _ = file_digests.save(store);
    let order = analysis.graph.closure(&wanted);
    Ok(Actions {
        graph: analysis.graph,
        order,
        keys,
        targets,
    })
}

/// Where an action's output goes under `bld-out/`.
fn output_path(action: &Action) -> String {
    format!("bld-out/{}", action.output_path())
}

fn inputs(graph: &ActionGraph, action: &Action) -> Vec<String> {
    action
        .inputs()
        .into_iter()
        .map(|input| match input {
            Input::Source(path) => path.clone(),
            Input::Output(dep) => output_path(graph.get(*dep)),
        })
        .collect()
}

/// `bld aquery`.
pub fn run(args: AqueryArgs, store_root: &Path) -> Result<(), Failure> {
    let store = Store::open(store_root)?;
    let found = actions(&args.expression, &store)?;
    let key = |id: ActionId| {
        found.keys[id.index()].map_or_else(
            || "(known once its inputs are built)".to_owned(),
            |k| k.to_string(),
        )
    };
    match args.output {
        AqueryOutput::Text => {
            let mut out = String::new();
            for id in &found.order {
                let action = found.graph.get(*id);
                let _ = write!(
                    out,
                    "action '{}'\n  Mnemonic: {}\n  Target: {}\n  ActionKey: {}\n  Inputs: [{}]\n  Outputs: [{}]\n\n",
                    action.describe(),
                    action.kind.mnemonic(),
                    action.owner,
                    key(*id),
                    inputs(&found.graph, action).join(", "),
                    output_path(action)
                );
            }
            print!("{out}");
        }
        AqueryOutput::Json => {
            let items: Vec<Value> = found
                .order
                .iter()
                .map(|id| {
                    let action = found.graph.get(*id);
                    json!({
                        "description": action.describe(),
                        "mnemonic": action.kind.mnemonic(),
                        "target": action.owner.to_string(),
                        "key": found.keys[id.index()].map(|k| k.to_string()),
                        "inputs": inputs(&found.graph, action),
                        "outputs": [output_path(action)],
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&items).unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// `text` escaped for a DOT string.
fn escaped(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Which stage of its Dockerfile an action belongs to: the `FROM` line at or above its own.
fn stage_of<'g>(stages: &'g [(String, usize, String)], action: &Action) -> Option<&'g str> {
    let at = action.origin.as_ref()?;
    stages
        .iter()
        .filter(|(file, line, _)| *file == at.file && *line <= at.line)
        .max_by_key(|(_, line, _)| *line)
        .map(|(_, _, text)| text.as_str())
}

/// The actions as DOT: a box per target (and within a Dockerfile target, per stage), colour
/// by how the last build satisfied each.
fn dot(found: &Actions, outcomes: &BTreeMap<String, String>) -> String {
    let graph = &found.graph;
    let stages: Vec<(String, usize, String)> = found
        .order
        .iter()
        .filter_map(|id| graph.get(*id).origin.as_ref())
        .filter(|at| {
            at.text
                .trim_start()
                .to_ascii_uppercase()
                .starts_with("FROM")
        })
        .map(|at| {
            (
                at.file.clone(),
                at.line,
                format!("{}:{}: {}", at.file, at.line, at.text.trim()),
            )
        })
        .collect();
    let mut clusters: BTreeMap<(String, Option<&str>), Vec<ActionId>> = BTreeMap::new();
    for id in &found.order {
        let action = graph.get(*id);
        clusters
            .entry((action.owner.to_string(), stage_of(&stages, action)))
            .or_default()
            .push(*id);
    }
    let mut out = String::from(
        "digraph actions {\n  rankdir=TB;\n  node [shape=box, style=\"rounded,filled\", fillcolor=white, fontname=\"monospace\", fontsize=10];\n",
    );
    let _ = writeln!(
        out,
        "  legend [shape=plaintext, style=\"\", label=\"ran: orange · local hit: green · remote hit: blue · not in the last build: white\"];"
    );
    for (index, ((owner, stage), ids)) in clusters.iter().enumerate() {
        let title = stage.map_or_else(|| owner.clone(), |s| format!("{owner} · {s}"));
        let _ = writeln!(
            out,
            "  subgraph cluster_{index} {{\n    label=\"{}\";",
            escaped(&title)
        );
        for id in ids {
            let action = graph.get(*id);
            let colour = match outcomes.get(&outcome_key(action)).map(String::as_str) {
                Some("ran") => "#f4a261",
                Some("cache hit") => "#90be6d",
                Some("remote hit") => "#74a9f7",
                _ => "white",
            };
            let shape = match action.kind.mnemonic() {
                "AssembleImage" | "StoreImage" | "PullImage" | "PushImage" => "box3d",
                _ => "box",
            };
            let _ = writeln!(
                out,
                "    a{} [label=\"{}\\n{}\", shape={shape}, fillcolor=\"{colour}\"];",
                id.index(),
                action.kind.mnemonic(),
                escaped(&short_description(action))
            );
        }
        out.push_str("  }\n");
    }
    for id in &found.order {
        for input in graph.get(*id).inputs() {
            if let Input::Output(dep) = input {
                let _ = writeln!(out, "  a{} -> a{};", dep.index(), id.index());
            }
        }
    }
    out.push_str("}\n");
    out
}

/// What a node says of its action: the instruction without its file (the box says which),
/// at most 48 characters.
fn short_description(action: &Action) -> String {
    let text = match &action.origin {
        Some(at) => format!("line {}: {}", at.line, at.text.trim()),
        None => action.describe(),
    };
    if text.chars().count() > 48 {
        text.chars().take(47).collect::<String>() + "…"
    } else {
        text
    }
}

/// How a build record names an action's outcome.
pub(crate) fn outcome_key(action: &Action) -> String {
    format!("{} {}", action.owner, action.output_name)
}

/// `bld graph`.
pub fn graph(args: GraphArgs, store_root: &Path) -> Result<(), Failure> {
    let store = Store::open(store_root)?;
    let found = actions(&args.expression, &store)?;
    let outcomes = crate::why::last_outcomes(&store, &found.targets);
    let text = dot(&found, &outcomes);
    let path = &args.output;
    let format = path.extension().and_then(|e| e.to_str()).unwrap_or("dot");
    if path.as_os_str() == "-" {
        print!("{text}");
        return Ok(());
    }
    if format == "dot" || format == "gv" {
        return std::fs::write(path, text)
            .map_err(|e| Failure::user(format!("cannot write `{}`: {e}", path.display())));
    }
    if !["svg", "png", "pdf"].contains(&format) {
        return Err(Failure::user(format!(
            "-o `{}`: expected a .svg, .png, .pdf or .dot file, or - for DOT on stdout",
            path.display()
        )));
    }
    draw(&text, format, path)
}

/// Runs Graphviz's `dot -T FORMAT -o PATH` over `text`.
fn draw(text: &str, format: &str, path: &Path) -> Result<(), Failure> {
    use std::io::Write as _;
    let mut child = std::process::Command::new("dot")
        .arg(format!("-T{format}"))
        .arg("-o")
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| {
            Failure::user(format!(
                "cannot run Graphviz's `dot` ({e}): install it (Debian's `graphviz`), or write DOT with `-o FILE.dot`"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| Failure::internal(format!("dot: {e}")))?;
    }
    let status = child
        .wait()
        .map_err(|e| Failure::internal(format!("dot: {e}")))?;
    if !status.success() {
        return Err(Failure::internal(format!("dot failed ({status})")));
    }
    Ok(())
}
