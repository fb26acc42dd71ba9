//! Analysis: calling each target's rule implementation, dependencies first, to build the
//! action graph.

use std::collections::HashMap;

use bld_core::Label;
use bld_graph::{ActionGraph, ActionId};
use starlark::environment::Module;
use starlark::eval::Evaluator;
use starlark::values::list::ListRef;
use starlark::values::structs::AllocStruct;
use starlark::values::{Heap, Value, ValueLike};

use crate::actions::{Actions, AnalysisContext};
use crate::attrs::{AttrType, AttrValue, attr_value_to_starlark};
use crate::limits;
use crate::patterns::{Node, TargetSet};
use crate::values::{
    Artifact, ArtifactKind, DEFAULT_INFO_ID, FrozenRule, LabelValue, ProviderInstance, Target,
};
use crate::{FrontendError, Loader};

/// Settings that analysis bakes into actions.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnalysisOptions {
    /// The mtime of layer entries and the `created` time of images (`SOURCE_DATE_EPOCH`).
    pub source_date_epoch: u64,
    /// `bld build --network host`: every `RUN` step gets the host's network.
    pub host_network: bool,
}

/// The result of analysis: the actions, and what each requested target outputs.
#[derive(Clone)]
pub struct Analysis {
    /// Every action the requested targets need.
    pub graph: ActionGraph,
    /// The requested targets, in the order requested.
    pub targets: Vec<AnalyzedTarget>,
}

/// One requested target after analysis.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AnalyzedTarget {
    /// Its label.
    pub label: Label,
    /// Its rule's name.
    pub rule: String,
    /// Its default outputs (`DefaultInfo.files`).
    pub outputs: Vec<TargetOutput>,
}

/// A default output of a target.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TargetOutput {
    /// What it is.
    pub kind: ArtifactKind,
    /// Its path: relative to the workspace for sources, to `bld-out/` for outputs.
    pub short_path: String,
    /// The action producing it (`None` for sources).
    pub action: Option<ActionId>,
}

/// Analyses `roots` (and, first, everything they depend on).
pub fn analyze(
    loader: &Loader,
    set: &mut TargetSet,
    roots: &[Label],
    options: AnalysisOptions,
) -> Result<Analysis, FrontendError> {
    let order = set.closure(loader, roots)?;
    let context = AnalysisContext::new(
        options,
        loader.sources().clone(),
        loader.workspace().root().to_owned(),
    );
    let modules = loader.loaded_modules();
    let targets = Module::with_temp_heap(|module| {
        for loaded in &modules {
            module.frozen_heap().add_reference(loaded.frozen_heap());
        }
        let mut analysed: HashMap<Label, Value<'_>> = HashMap::new();
        for node in &order {
            let (label, target) = match node {
                Node::Source(label) => {
                    let artifact = Artifact {
                        kind: ArtifactKind::Source,
                        owner: label.clone(),
                        short_path: label.workspace_path(),
                        action: None,
                    };
                    let heap = module.heap();
                    let info =
                        ProviderInstance::default_info(heap.alloc(vec![heap.alloc(artifact)]));
                    (label, Target::new(label, vec![heap.alloc(info)]))
                }
                Node::Target(label) => {
                    let decl = set
                        .get(label)
                        .expect("invariant: closure only lists loaded targets");
                    // A fresh evaluator per target: each gets the whole budget of steps.
                    let mut eval = Evaluator::new(&module);
                    limits::limit(&mut eval);
                    eval.extra = Some(&context);
                    let display = label.to_string();
                    let target = limits::contain_panics(&display, || {
                        analyse_target(&mut eval, decl, &analysed)
                    })?;
                    (label, target)
                }
            };
            let value = module.heap().alloc(target);
            analysed.insert(label.clone(), value);
        }
        roots
            .iter()
            .map(|label| {
                let decl = set
                    .get(label)
                    .expect("invariant: roots are declared targets");
                let outputs = default_files(analysed[label])
                    .into_iter()
                    .map(|a| TargetOutput {
                        kind: a.kind,
                        short_path: a.short_path.clone(),
                        action: a.action,
                    })
                    .collect();
                Ok(AnalyzedTarget {
                    label: label.clone(),
                    rule: decl.rule_name.clone(),
                    outputs,
                })
            })
            .collect::<Result<Vec<_>, FrontendError>>()
    })?;
    Ok(Analysis {
        graph: context.graph.into_inner(),
        targets,
    })
}

/// The `DefaultInfo.files` of an analysed target.
fn default_files<'v>(target: Value<'v>) -> Vec<&'v Artifact> {
    let Some(target) = Target::from_value(target) else {
        return Vec::new();
    };
    let Some(info) = target.provider(DEFAULT_INFO_ID) else {
        return Vec::new();
    };
    let Some(files) = ProviderInstance::from_value(info).and_then(|i| i.field("files")) else {
        return Vec::new();
    };
    ListRef::from_value(files)
        .map(|list| {
            list.iter()
                .filter_map(|v| v.downcast_ref::<Artifact>())
                .collect()
        })
        .unwrap_or_default()
}

/// The Dockerfile error a rule's `ctx.actions.dockerfile` raised, if that is what failed.
fn lowering_error(error: &starlark::Error) -> Option<bld_dockerfile_lower::LowerError> {
    match error.kind() {
        starlark::ErrorKind::Native(inner) | starlark::ErrorKind::Other(inner) => inner
            .chain()
            .find_map(|cause| cause.downcast_ref::<bld_dockerfile_lower::LowerError>())
            .cloned(),
        _ => None,
    }
}

fn analyse_target<'v>(
    eval: &mut Evaluator<'v, '_, '_>,
    decl: &crate::TargetDecl,
    analysed: &HashMap<Label, Value<'v>>,
) -> Result<Target<'v>, FrontendError> {
    let rule = decl
        .rule
        .to_value()
        .downcast_ref::<FrozenRule>()
        .expect("invariant: targets are declared by rules");
    let heap = eval.heap();
    let ctx = build_ctx(heap, decl, rule, analysed);
    let fail = |message: String| {
        FrontendError::user(format!(
            "{}: analysing `{}` (rule `{}`): {message}",
            decl.location, decl.label, decl.rule_name
        ))
    };
    let result = eval
        .eval_function(rule.implementation.to_value(), &[ctx], &[])
        .map_err(|e| match crate::limits::limit_of(&e) {
            _ if let Some(error) = lowering_error(&e) => FrontendError::Dockerfile {
                error,
                analysing: Some(format!(
                    "analysing `{}`, declared at {}",
                    decl.label, decl.location
                )),
            },
            Some((location, limit)) => FrontendError::Limit {
                location: format!(
                    "{} (analysing `{}`)",
                    location.unwrap_or_else(|| decl.location.clone()),
                    decl.label
                ),
                limit,
            },
            None => fail(format!("{e}").trim_end().to_owned()),
        })?;
    let mut providers = Vec::new();
    if !result.is_none() {
        let list = ListRef::from_value(result).ok_or_else(|| {
            fail(format!(
                "the implementation must return a list of providers, got `{}`",
                result.get_type()
            ))
        })?;
        for item in list.iter() {
            let Some(instance) = ProviderInstance::from_value(item) else {
                return Err(fail(format!(
                    "the implementation returned `{item}`, which is not a provider instance"
                )));
            };
            if providers.iter().any(|p: &Value<'v>| {
                ProviderInstance::from_value(*p).is_some_and(|q| q.same_provider(instance))
            }) {
                return Err(fail(format!("the implementation returned `{item}` twice")));
            }
            providers.push(item);
        }
    }
    if !providers.iter().any(|p| {
        ProviderInstance::from_value(*p).is_some_and(|i| i.is_instance_of(DEFAULT_INFO_ID))
    }) {
        providers.push(heap.alloc(ProviderInstance::default_info(
            heap.alloc(Vec::<Value<'v>>::new()),
        )));
    }
    Ok(Target::new(&decl.label, providers))
}

fn build_ctx<'v>(
    heap: Heap<'v>,
    decl: &crate::TargetDecl,
    rule: &FrozenRule,
    analysed: &HashMap<Label, Value<'v>>,
) -> Value<'v> {
    let mut attr = vec![("name".to_owned(), heap.alloc(decl.label.name()))];
    let mut files = Vec::new();
    let mut file = Vec::new();
    for ((name, value), spec) in decl.attrs.iter().zip(&rule.meta.attrs) {
        match spec.ty {
            AttrType::Label | AttrType::LabelList => {
                let deps: Vec<Value<'v>> =
                    value.labels().into_iter().map(|l| analysed[l]).collect();
                let dep_files: Vec<Value<'v>> = deps
                    .iter()
                    .flat_map(|d| default_files(*d))
                    .map(|a| heap.alloc(a.clone()))
                    .collect();
                if spec.ty == AttrType::Label {
                    attr.push((
                        name.clone(),
                        deps.first().copied().unwrap_or_else(Value::new_none),
                    ));
                    file.push((
                        name.clone(),
                        dep_files.first().copied().unwrap_or_else(Value::new_none),
                    ));
                } else {
                    attr.push((name.clone(), heap.alloc(deps)));
                }
                files.push((name.clone(), heap.alloc(dep_files)));
            }
            AttrType::StringKeyedLabelDict => {
                let map: starlark::collections::SmallMap<String, Value<'v>> = match value {
                    AttrValue::LabelDict(pairs) => pairs
                        .iter()
                        .map(|(k, l)| (k.clone(), analysed[l]))
                        .collect(),
                    _ => Default::default(),
                };
                attr.push((name.clone(), heap.alloc(map)));
            }
            _ => {
                let value = if *value == AttrValue::None {
                    Value::new_none()
                } else {
                    attr_value_to_starlark(value, heap)
                };
                attr.push((name.clone(), value));
            }
        }
    }
    heap.alloc(AllocStruct([
        ("label", heap.alloc(LabelValue(decl.label.clone()))),
        ("attr", heap.alloc(AllocStruct(attr))),
        ("files", heap.alloc(AllocStruct(files))),
        ("file", heap.alloc(AllocStruct(file))),
        (
            "actions",
            heap.alloc(Actions {
                owner: decl.label.clone(),
            }),
        ),
    ]))
}
