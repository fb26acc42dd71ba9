//! `bld query EXPRESSION [--output label|label_kind|build|graph|json]`: Bazel's query language
//! over the target graph (`query/expr.rs` says the grammar). Results are listed dependencies
//! first.

mod eval;
mod expr;

use std::collections::HashSet;
use std::fmt::Write as _;

use bld_core::Label;
use bld_starlark::{AttrValue, Loader, TargetSet};
use clap::Args;
use serde_json::{Value, json};

use crate::Failure;
use crate::workspace_args::parse_patterns;
use eval::{Graph, Labels, eval};

/// Arguments of `bld query`.
#[derive(Args)]
pub struct QueryArgs {
    /// A target pattern (`//examples/...`) or an expression: `deps(X[, N])`,
    /// `rdeps(UNIVERSE, X[, N])`, `somepath(A, B)`, `allpaths(A, B)`, `kind(REGEX, X)`,
    /// `filter(REGEX, X)`, `attr(NAME, REGEX, X)`, joined with `+ - ^` (`union except
    /// intersect`).
    expression: String,
    /// How results are printed: `label`, `label_kind` (`pkg_tar rule //a:b`), `build` (as
    /// BUILD-file rule calls), `graph` (Graphviz DOT of the results and their edges), `json`.
    #[arg(long, value_enum, default_value = "label", value_name = "FORMAT")]
    output: QueryOutput,
}

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[clap(rename_all = "snake_case")]
pub(crate) enum QueryOutput {
    Label,
    LabelKind,
    Build,
    Graph,
    Json,
}

/// The workspace's target graph, nothing loaded yet.
fn graph() -> Result<Graph, Failure> {
    let patterns = parse_patterns(&[])?;
    let cwd = std::env::current_dir().map_err(|e| Failure::internal(e.to_string()))?;
    Ok(Graph {
        loader: Loader::new(patterns.workspace.clone())?,
        set: TargetSet::default(),
        current_package: patterns.workspace.package_of(&cwd),
    })
}

/// The targets (not source files) `expression` yields, as labels (`bld aquery`, `bld graph`).
pub(crate) fn targets_of(expression: &str) -> Result<Vec<String>, Failure> {
    let query = expr::parse(expression)?;
    let mut graph = graph()?;
    let results = eval(&mut graph, &query)?;
    let targets: Vec<String> = results
        .iter()
        .filter(|l| graph.target(l).is_some())
        .map(ToString::to_string)
        .collect();
    if targets.is_empty() {
        return Err(Failure::user(format!("`{expression}` names no target")));
    }
    Ok(targets)
}

/// Prints what the expression yields.
pub fn run(args: QueryArgs) -> Result<(), Failure> {
    let query = expr::parse(&args.expression)?;
    let mut graph = graph()?;
    let results = eval(&mut graph, &query)?;
    // Dependencies first: the order of the results' closure.
    let ordered: Vec<Label> = graph
        .closure(&results)?
        .into_iter()
        .filter(|l| results.contains(l))
        .collect();
    print!("{}", render(&graph, &ordered, &results, args.output));
    Ok(())
}

fn render(graph: &Graph, ordered: &[Label], results: &Labels, output: QueryOutput) -> String {
    let mut out = String::new();
    match output {
        QueryOutput::Label => {
            for label in ordered {
                let _ = writeln!(out, "{label}");
            }
        }
        QueryOutput::LabelKind => {
            for label in ordered {
                let _ = writeln!(out, "{} {label}", graph.kind(label));
            }
        }
        QueryOutput::Build => {
            for label in ordered {
                out.push_str(&build_form(graph, label));
            }
        }
        QueryOutput::Graph => out = dot(graph, ordered, results),
        QueryOutput::Json => {
            let items: Vec<Value> = ordered.iter().map(|l| json_form(graph, l)).collect();
            out = serde_json::to_string_pretty(&items).unwrap_or_default() + "\n";
        }
    }
    out
}

/// An attribute's value as Starlark writes it.
fn starlark(value: &AttrValue) -> String {
    let quote = |s: &str| format!("{s:?}");
    let list = |items: Vec<String>| format!("[{}]", items.join(", "));
    let dict = |pairs: Vec<(String, String)>| {
        let items: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}: {}", quote(k), quote(v)))
            .collect();
        format!("{{{}}}", items.join(", "))
    };
    match value {
        AttrValue::None => "None".to_owned(),
        AttrValue::String(s) => quote(s),
        AttrValue::StringList(items) => list(items.iter().map(|s| quote(s)).collect()),
        AttrValue::StringDict(pairs) => dict(pairs.clone()),
        AttrValue::Int(n) => n.to_string(),
        AttrValue::Bool(b) => if *b { "True" } else { "False" }.to_owned(),
        AttrValue::Label(l) => quote(&l.to_string()),
        AttrValue::LabelList(labels) => {
            list(labels.iter().map(|l| quote(&l.to_string())).collect())
        }
        AttrValue::LabelDict(pairs) => dict(
            pairs
                .iter()
                .map(|(k, l)| (k.clone(), l.to_string()))
                .collect(),
        ),
    }
}

/// `# LOCATION\nRULE(\n    name = "…",\n    ATTR = VALUE,\n)\n`, as Bazel's `--output build`.
fn build_form(graph: &Graph, label: &Label) -> String {
    let Some(target) = graph.target(label) else {
        return format!("# {label} (source file)\n\n");
    };
    let mut text = format!(
        "# {}\n{}(\n    name = \"{}\",\n",
        target.location,
        target.rule_name,
        label.name()
    );
    for (name, value) in &target.attrs {
        if !matches!(value, AttrValue::None) && name != "name" {
            let _ = writeln!(text, "    {name} = {},", starlark(value));
        }
    }
    text.push_str(")\n\n");
    text
}

/// An attribute's value as JSON: lists as arrays, dicts as objects, labels as strings.
fn json_value(value: &AttrValue) -> Value {
    match value {
        AttrValue::None => Value::Null,
        AttrValue::String(s) => json!(s),
        AttrValue::StringList(items) => json!(items),
        AttrValue::StringDict(pairs) => {
            Value::Object(pairs.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
        }
        AttrValue::Int(n) => json!(n),
        AttrValue::Bool(b) => json!(b),
        AttrValue::Label(l) => json!(l.to_string()),
        AttrValue::LabelList(labels) => {
            json!(labels.iter().map(ToString::to_string).collect::<Vec<_>>())
        }
        AttrValue::LabelDict(pairs) => Value::Object(
            pairs
                .iter()
                .map(|(k, l)| (k.clone(), json!(l.to_string())))
                .collect(),
        ),
    }
}

fn json_form(graph: &Graph, label: &Label) -> Value {
    let Some(target) = graph.target(label) else {
        return json!({"label": label.to_string(), "kind": "source file"});
    };
    let attrs: serde_json::Map<String, Value> = target
        .attrs
        .iter()
        .filter(|(_, v)| !matches!(v, AttrValue::None))
        .map(|(name, value)| (name.clone(), json_value(value)))
        .collect();
    json!({
        "label": label.to_string(),
        "kind": graph.kind(label),
        "location": target.location,
        "attrs": attrs,
        "deps": graph.direct(label).iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

/// Graphviz DOT of the results and the dependency edges between them.
fn dot(graph: &Graph, ordered: &[Label], results: &Labels) -> String {
    let mut out =
        String::from("digraph bld {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n");
    let mut edges = HashSet::new();
    for label in ordered {
        let shape = if graph.target(label).is_some() {
            "box"
        } else {
            "note"
        };
        let _ = writeln!(out, "  \"{label}\" [shape={shape}];");
    }
    for label in ordered.iter().rev() {
        for dep in graph.direct(label) {
            if results.contains(&dep) && edges.insert((label.clone(), dep.clone())) {
                let _ = writeln!(out, "  \"{label}\" -> \"{dep}\";");
            }
        }
    }
    out.push_str("}\n");
    out
}
