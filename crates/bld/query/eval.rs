//! Evaluating a query over the target graph: packages are loaded as the expression reaches
//! them; every result is a set of labels (targets and source files).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use bld_core::{Label, TargetPattern};
use bld_starlark::{AttrValue, Loader, TargetDecl, TargetSet, expand_patterns, query_deps};

use super::expr::{Expr, Op};
use crate::Failure;

/// A set of labels, as the query yields them.
pub(crate) type Labels = BTreeSet<Label>;

/// The target graph as far as it is loaded.
pub(crate) struct Graph {
    pub(crate) loader: Loader,
    pub(crate) set: TargetSet,
    /// The package patterns and labels are relative to (the working directory's).
    pub(crate) current_package: String,
}

impl Graph {
    /// The declaration of the target `label` (`None` for a source file).
    pub(crate) fn target(&self, label: &Label) -> Option<&TargetDecl> {
        self.set.get(label)
    }

    /// What `label` depends on directly, in declaration order.
    pub(crate) fn direct(&self, label: &Label) -> Vec<Label> {
        self.set
            .get(label)
            .map(|t| t.deps().map(|(_, l)| l.clone()).collect())
            .unwrap_or_default()
    }

    /// `roots` and everything they depend on, dependencies first (loading what they reach).
    pub(crate) fn closure(&mut self, roots: &Labels) -> Result<Vec<Label>, Failure> {
        let roots: Vec<Label> = roots.iter().cloned().collect();
        Ok(query_deps(&self.loader, &mut self.set, &roots)?)
    }

    /// What a pattern names; a label may name a source file too, as in Bazel.
    fn pattern(&mut self, text: &str) -> Result<Labels, Failure> {
        let pattern = TargetPattern::parse(text, &self.current_package)?;
        let source = match &pattern {
            TargetPattern::Single(label) => Some(label.clone()),
            _ => None,
        };
        match expand_patterns(&self.loader, &mut self.set, &[pattern]) {
            Ok(labels) => Ok(labels.into_iter().collect()),
            Err(error) => match source {
                Some(label) if self.set.get(&label).is_none() && self.is_source(&label) => {
                    Ok(Labels::from([label]))
                }
                _ => Err(error.into()),
            },
        }
    }

    fn is_source(&self, label: &Label) -> bool {
        let workspace = self.loader.workspace();
        workspace
            .package_dir(label.package())
            .join(label.name())
            .is_file()
    }

    /// `label`'s kind as Bazel names it: `pkg_tar rule`, `source file`.
    pub(crate) fn kind(&self, label: &Label) -> String {
        self.set.get(label).map_or_else(
            || "source file".to_owned(),
            |t| format!("{} rule", t.rule_name),
        )
    }
}

fn regex(function: &str, pattern: &str) -> Result<regex::Regex, Failure> {
    regex::Regex::new(pattern).map_err(|e| {
        Failure::user(format!(
            "query: {function}(): `{pattern}` is not a regular expression: {e}"
        ))
    })
}

/// An attribute's value as `attr()` matches it (as Bazel's query prints it).
pub(crate) fn attr_text(value: &AttrValue) -> String {
    let quoted = |items: Vec<String>| format!("[{}]", items.join(", "));
    match value {
        AttrValue::None => String::new(),
        AttrValue::String(s) => s.clone(),
        AttrValue::StringList(items) => quoted(items.clone()),
        AttrValue::StringDict(pairs) => format!(
            "{{{}}}",
            pairs
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        AttrValue::Int(n) => n.to_string(),
        AttrValue::Bool(b) => if *b { "True" } else { "False" }.to_owned(),
        AttrValue::Label(l) => l.to_string(),
        AttrValue::LabelList(labels) => quoted(labels.iter().map(ToString::to_string).collect()),
        AttrValue::LabelDict(pairs) => format!(
            "{{{}}}",
            pairs
                .iter()
                .map(|(k, l)| format!("{k}: {l}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Breadth-first from `from` along `next`, at most `depth` steps; everything reached.
fn reach(from: &Labels, depth: Option<usize>, next: &dyn Fn(&Label) -> Vec<Label>) -> Labels {
    let mut seen: Labels = from.clone();
    let mut queue: VecDeque<(Label, usize)> = from.iter().map(|l| (l.clone(), 0)).collect();
    while let Some((label, steps)) = queue.pop_front() {
        if depth.is_some_and(|d| steps >= d) {
            continue;
        }
        for dep in next(&label) {
            if seen.insert(dep.clone()) {
                queue.push_back((dep, steps + 1));
            }
        }
    }
    seen
}

/// Who depends on whom within `universe`: the reverse edges.
fn dependents(graph: &Graph, universe: &[Label]) -> HashMap<Label, Vec<Label>> {
    let mut reverse: HashMap<Label, Vec<Label>> = HashMap::new();
    for label in universe {
        for dep in graph.direct(label) {
            reverse.entry(dep).or_default().push(label.clone());
        }
    }
    reverse
}

/// Evaluates `expr`.
pub(crate) fn eval(graph: &mut Graph, expr: &Expr) -> Result<Labels, Failure> {
    Ok(match expr {
        Expr::Pattern(text) => graph.pattern(text)?,
        Expr::Deps(x, depth) => {
            let roots = eval(graph, x)?;
            graph.closure(&roots)?;
            reach(&roots, *depth, &|l| graph.direct(l))
        }
        Expr::Rdeps(universe, x, depth) => {
            let universe = eval(graph, universe)?;
            let within = graph.closure(&universe)?;
            let inside: HashSet<&Label> = within.iter().collect();
            let from: Labels = eval(graph, x)?
                .into_iter()
                .filter(|l| inside.contains(l))
                .collect();
            let reverse = dependents(graph, &within);
            reach(&from, *depth, &|l| {
                reverse.get(l).cloned().unwrap_or_default()
            })
        }
        Expr::SomePath(from, to) => {
            let (from, to) = (eval(graph, from)?, eval(graph, to)?);
            graph.closure(&from)?;
            some_path(graph, &from, &to)
        }
        Expr::AllPaths(from, to) => {
            let (from, to) = (eval(graph, from)?, eval(graph, to)?);
            let forward = graph.closure(&from)?;
            let inside: HashSet<&Label> = forward.iter().collect();
            let ends: Labels = to.into_iter().filter(|l| inside.contains(l)).collect();
            let reverse = dependents(graph, &forward);
            reach(&ends, None, &|l| {
                reverse.get(l).cloned().unwrap_or_default()
            })
        }
        Expr::Kind(pattern, x) => {
            let re = regex("kind", pattern)?;
            let labels = eval(graph, x)?;
            labels
                .into_iter()
                .filter(|l| re.is_match(&graph.kind(l)))
                .collect()
        }
        Expr::Filter(pattern, x) => {
            let re = regex("filter", pattern)?;
            let labels = eval(graph, x)?;
            labels
                .into_iter()
                .filter(|l| re.is_match(&l.to_string()))
                .collect()
        }
        Expr::Attr(name, pattern, x) => {
            let re = regex("attr", pattern)?;
            let labels = eval(graph, x)?;
            labels
                .into_iter()
                .filter(|l| {
                    graph.target(l).is_some_and(|t| {
                        (name == "name" && re.is_match(l.name()))
                            || t.attrs
                                .iter()
                                .any(|(attr, value)| attr == name && re.is_match(&attr_text(value)))
                    })
                })
                .collect()
        }
        Expr::Binary(left, op, right) => {
            let (left, right) = (eval(graph, left)?, eval(graph, right)?);
            match op {
                Op::Union => left.union(&right).cloned().collect(),
                Op::Except => left.difference(&right).cloned().collect(),
                Op::Intersect => left.intersection(&right).cloned().collect(),
            }
        }
    })
}

/// One shortest path from a label of `from` to one of `to` along dependencies (empty when
/// there is none).
fn some_path(graph: &Graph, from: &Labels, to: &Labels) -> Labels {
    let mut parent: HashMap<Label, Option<Label>> =
        from.iter().map(|l| (l.clone(), None)).collect();
    let mut queue: VecDeque<Label> = from.iter().cloned().collect();
    while let Some(label) = queue.pop_front() {
        if to.contains(&label) {
            let mut path = Labels::new();
            let mut at = Some(label);
            while let Some(l) = at {
                at = parent.get(&l).cloned().flatten();
                path.insert(l);
            }
            return path;
        }
        for dep in graph.direct(&label) {
            if !parent.contains_key(&dep) {
                parent.insert(dep.clone(), Some(label.clone()));
                queue.push_back(dep);
            }
        }
    }
    Labels::new()
}
