//! Packages: evaluating a BUILD file records the targets its rule calls declare.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;

use bld_core::Label;
use starlark::any::ProvidesStaticType;
use starlark::eval::{Arguments, Evaluator};
use starlark::values::{FrozenValue, Value};

use crate::attrs::{AttrValue, attr_value_from_starlark};
use crate::load::span_location;
use crate::sources::Sources;
use crate::values::RuleMeta;

/// A target declared by a rule call in a BUILD file.
#[derive(Debug, Clone)]
pub struct TargetDecl {
    /// Its label.
    pub label: Label,
    /// The rule (a `FrozenRule` on a loaded module's heap).
    pub rule: FrozenValue,
    /// The rule's name (`pkg_tar`).
    pub rule_name: String,
    /// Every declared attribute, in declaration order, with defaults applied.
    pub attrs: Vec<(String, AttrValue)>,
    /// `file:line:col` of the rule call in the BUILD file.
    pub location: String,
}

impl TargetDecl {
    /// The labels this target depends on, each with the attribute naming it.
    pub fn deps(&self) -> impl Iterator<Item = (&str, &Label)> {
        self.attrs
            .iter()
            .flat_map(|(name, value)| value.labels().into_iter().map(move |l| (name.as_str(), l)))
    }
}

/// What rule calls need while a BUILD file is evaluated (reached through `eval.extra`).
#[derive(ProvidesStaticType)]
pub struct PackageContext {
    /// The package path.
    pub package: String,
    /// The package's directory.
    pub package_dir: PathBuf,
    /// The BUILD file, relative to the workspace root.
    pub build_file: String,
    /// The recording view of the workspace.
    pub(crate) sources: Sources,
    targets: RefCell<Vec<TargetDecl>>,
    /// The index in `targets` of each declared name (duplicates are found in constant time).
    declared: RefCell<HashMap<String, usize>>,
}

impl PackageContext {
    pub(crate) fn new(
        package: &str,
        package_dir: PathBuf,
        build_file: &str,
        sources: Sources,
    ) -> PackageContext {
        PackageContext {
            package: package.to_owned(),
            package_dir,
            build_file: build_file.to_owned(),
            sources,
            targets: RefCell::default(),
            declared: RefCell::default(),
        }
    }

    pub(crate) fn into_targets(self) -> Vec<TargetDecl> {
        self.targets.into_inner()
    }
}

fn error(message: String) -> starlark::Error {
    starlark::Error::new_other(anyhow::anyhow!(message))
}

/// Attributes every rule accepts besides its own.
const COMMON_ATTRS: &[&str] = &["visibility", "tags", "testonly"];

/// Records a target for a call of `rule` (see `FrozenRule::invoke`).
pub(crate) fn declare_target<'v>(
    rule: FrozenValue,
    meta: &RuleMeta,
    args: &Arguments<'v, '_>,
    eval: &mut Evaluator<'v, '_, '_>,
) -> starlark::Result<Value<'v>> {
    let rule_name = meta.name();
    let Some(context) = eval.extra.and_then(|e| e.downcast_ref::<PackageContext>()) else {
        return Err(error(format!(
            "rule `{rule_name}` can only be called while a BUILD.star file is evaluated (directly or from a macro)"
        )));
    };
    args.no_positional_args(eval.heap())?;
    let mut given = args.names_map()?;
    let name = match given.shift_remove("name") {
        Some(v) => v
            .unpack_str()
            .ok_or_else(|| {
                error(format!(
                    "rule `{rule_name}`: `name` must be a string, got `{v}`"
                ))
            })?
            .to_owned(),
        None => {
            return Err(error(format!(
                "rule `{rule_name}`: missing mandatory attribute `name`"
            )));
        }
    };
    let label = Label::parse(&format!(":{name}"), &context.package)
        .map_err(|e| error(format!("rule `{rule_name}`: bad `name`: {e}")))?;
    let mut attrs = Vec::with_capacity(meta.attrs.len());
    for spec in &meta.attrs {
        let value = match given.shift_remove(spec.name.as_str()) {
            Some(value) => attr_value_from_starlark(spec, value, &context.package)
                .map_err(|e| error(format!("{label}: {e}")))?,
            None => spec.default.clone(),
        };
        if spec.mandatory && value == AttrValue::None {
            return Err(error(format!(
                "{label}: missing mandatory attribute `{}`",
                spec.name
            )));
        }
        attrs.push((spec.name.clone(), value));
    }
    if let Some((unknown, _)) = given
        .iter()
        .find(|(k, _)| !COMMON_ATTRS.contains(&k.as_str()))
    {
        let mut known: Vec<&str> = meta.attrs.iter().map(|a| a.name.as_str()).collect();
        known.insert(0, "name");
        return Err(error(format!(
            "{label}: rule `{rule_name}` has no attribute `{}`; expected one of: {}",
            unknown.as_str(),
            known.join(", ")
        )));
    }
    let frames = eval.call_stack().frames;
    let location = frames
        .iter()
        .filter_map(|f| f.location.as_ref())
        .find(|span| span.filename() == context.build_file)
        .or_else(|| frames.iter().rev().find_map(|f| f.location.as_ref()))
        .map(span_location)
        .unwrap_or_else(|| context.build_file.clone());
    let mut targets = context.targets.borrow_mut();
    let mut declared = context.declared.borrow_mut();
    if let Some(&existing) = declared.get(label.name()) {
        return Err(error(format!(
            "target `{label}` is declared twice (first at {})",
            targets[existing].location
        )));
    }
    declared.insert(label.name().to_owned(), targets.len());
    targets.push(TargetDecl {
        label,
        rule,
        rule_name: rule_name.to_owned(),
        attrs,
        location,
    });
    Ok(Value::new_none())
}
