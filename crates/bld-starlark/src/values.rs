//! The Starlark value types bld adds: labels, files (artifacts), providers and their
//! instances, analysed targets, rules and attribute descriptors.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use allocative::Allocative;
use bld_core::Label;
use bld_graph::ActionId;
use starlark::any::ProvidesStaticType;
use starlark::coerce::Coerce;
use starlark::eval::{Arguments, Evaluator};
use starlark::values::{
    AllocValue, Freeze, FreezeResult, Freezer, FrozenValue, Heap, NoSerialize, StarlarkValue,
    Trace, Value, ValueLike,
};
use starlark::{starlark_complex_value, starlark_simple_value};
use starlark_derive::starlark_value;

use crate::attrs::AttrSpec;

fn display_error(message: String) -> starlark::Error {
    starlark::Error::new_other(anyhow::anyhow!(message))
}

/// A label as a Starlark value (`ctx.label`, `file.owner`): `.package`, `.name`, `str()`.
#[derive(Debug, Clone, ProvidesStaticType, NoSerialize, Allocative)]
pub struct LabelValue(#[allocative(skip)] pub Label);
starlark_simple_value!(LabelValue);

impl fmt::Display for LabelValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[starlark_value(type = "Label")]
impl<'v> StarlarkValue<'v> for LabelValue {
    fn get_attr(&self, attribute: &str, heap: Heap<'v>) -> Option<Value<'v>> {
        match attribute {
            "package" => Some(heap.alloc(self.0.package())),
            "name" => Some(heap.alloc(self.0.name())),
            _ => None,
        }
    }

    fn dir_attr(&self) -> Vec<String> {
        vec!["name".into(), "package".into()]
    }

    fn equals(&self, other: Value<'v>) -> starlark::Result<bool> {
        Ok(other
            .downcast_ref::<LabelValue>()
            .is_some_and(|o| o.0 == self.0))
    }
}

/// What an artifact is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Allocative, serde::Serialize, serde::Deserialize)]
pub enum ArtifactKind {
    /// A source file in the workspace.
    Source,
    /// A file produced by an action.
    File,
    /// A compressed layer tar.
    Layer,
    /// An OCI image.
    Image,
}

impl ArtifactKind {
    /// The name Starlark code sees in `file.kind`.
    pub fn name(self) -> &'static str {
        match self {
            ArtifactKind::Source | ArtifactKind::File => "file",
            ArtifactKind::Layer => "layer",
            ArtifactKind::Image => "image",
        }
    }
}

/// A file or other artifact, as rule implementations see it (Bazel's `File`).
#[derive(Debug, Clone, ProvidesStaticType, NoSerialize, Allocative)]
pub struct Artifact {
    /// What it is.
    pub kind: ArtifactKind,
    /// The target that owns it (for a source file, the label that names it).
    #[allocative(skip)]
    pub owner: Label,
    /// Path relative to the workspace root (sources) or to `bld-out/` (outputs).
    pub short_path: String,
    /// The action producing it; `None` for sources.
    #[allocative(skip)]
    pub action: Option<ActionId>,
}
starlark_simple_value!(Artifact);

impl fmt::Display for Artifact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origin = if self.kind == ArtifactKind::Source {
            "source"
        } else {
            "generated"
        };
        write!(f, "<{} {} {}>", origin, self.kind.name(), self.short_path)
    }
}

#[starlark_value(type = "File")]
impl<'v> StarlarkValue<'v> for Artifact {
    fn get_attr(&self, attribute: &str, heap: Heap<'v>) -> Option<Value<'v>> {
        match attribute {
            "short_path" | "path" => Some(heap.alloc(self.short_path.as_str())),
            "basename" => Some(heap.alloc(self.short_path.rsplit('/').next().unwrap_or_default())),
            "is_source" => Some(Value::new_bool(self.kind == ArtifactKind::Source)),
            "kind" => Some(heap.alloc(self.kind.name())),
            "owner" => Some(heap.alloc(LabelValue(self.owner.clone()))),
            _ => None,
        }
    }

    fn dir_attr(&self) -> Vec<String> {
        [
            "basename",
            "is_source",
            "kind",
            "owner",
            "path",
            "short_path",
        ]
        .map(String::from)
        .to_vec()
    }

    fn equals(&self, other: Value<'v>) -> starlark::Result<bool> {
        Ok(other
            .downcast_ref::<Artifact>()
            .is_some_and(|o| o.short_path == self.short_path && o.kind == self.kind))
    }
}

static NEXT_PROVIDER_ID: AtomicU64 = AtomicU64::new(1);

/// The id of the built-in `DefaultInfo` provider.
pub const DEFAULT_INFO_ID: u64 = 0;

/// A provider: the result of `provider(fields = [...])`, callable to make instances.
#[derive(Debug, ProvidesStaticType, NoSerialize, Allocative)]
pub struct Provider {
    id: u64,
    #[allocative(skip)]
    name: OnceLock<String>,
    fields: Vec<String>,
}
starlark_simple_value!(Provider);

impl Provider {
    /// A new provider with its own identity.
    pub fn new(fields: Vec<String>) -> Provider {
        Provider {
            id: NEXT_PROVIDER_ID.fetch_add(1, Ordering::Relaxed),
            name: OnceLock::new(),
            fields,
        }
    }

    /// The built-in `DefaultInfo`.
    pub fn default_info() -> Provider {
        let name = OnceLock::new();
        let _ = name.set("DefaultInfo".to_owned());
        Provider {
            id: DEFAULT_INFO_ID,
            name,
            fields: vec!["files".into()],
        }
    }

    fn name(&self) -> &str {
        self.name
            .get()
            .map(String::as_str)
            .unwrap_or("<anonymous provider>")
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<provider {}>", self.name())
    }
}

#[starlark_value(type = "provider")]
impl<'v> StarlarkValue<'v> for Provider {
    fn export_as(
        &self,
        variable_name: &str,
        _eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<()> {
        let _ = self.name.set(variable_name.to_owned());
        Ok(())
    }

    fn invoke(
        &self,
        _me: Value<'v>,
        args: &Arguments<'v, '_>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        args.no_positional_args(eval.heap())?;
        let mut fields = Vec::new();
        for (name, value) in args.names_map()? {
            let name = name.as_str();
            if !self.fields.iter().any(|f| f == name) {
                return Err(display_error(format!(
                    "`{}` has no field `{name}`; expected one of: {}",
                    self.name(),
                    self.fields.join(", ")
                )));
            }
            fields.push((name.to_owned(), value));
        }
        Ok(eval.heap().alloc(ProviderInstance {
            provider_id: self.id.to_string(),
            provider_name: self.name().to_owned(),
            fields,
        }))
    }
}

/// An instance of a provider, returned by rule implementations: `ImageInfo(image = ...)`.
#[derive(Debug, Trace, Coerce, ProvidesStaticType, NoSerialize, Allocative)]
#[repr(C)]
pub struct ProviderInstanceGen<V> {
    provider_id: String,
    provider_name: String,
    fields: Vec<(String, V)>,
}
starlark_complex_value!(pub ProviderInstance);

impl<'v> ProviderInstance<'v> {
    /// A `DefaultInfo(files = files)`.
    pub fn default_info(files: Value<'v>) -> ProviderInstance<'v> {
        ProviderInstanceGen {
            provider_id: DEFAULT_INFO_ID.to_string(),
            provider_name: "DefaultInfo".to_owned(),
            fields: vec![("files".to_owned(), files)],
        }
    }
}

impl<'v, V: ValueLike<'v>> ProviderInstanceGen<V> {
    /// Whether both are instances of the same provider.
    pub fn same_provider<W>(&self, other: &ProviderInstanceGen<W>) -> bool {
        self.provider_id == other.provider_id
    }

    /// Whether this is an instance of the provider with id `provider_id`.
    pub fn is_instance_of(&self, provider_id: u64) -> bool {
        self.provider_id == provider_id.to_string()
    }

    /// A field's value (`None` if it was not set).
    pub fn field(&self, name: &str) -> Option<Value<'v>> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_value())
    }
}

impl<V> fmt::Display for ProviderInstanceGen<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(...)", self.provider_name)
    }
}

impl<'v> Freeze for ProviderInstance<'v> {
    type Frozen = FrozenProviderInstance;
    fn freeze(self, freezer: &Freezer) -> FreezeResult<Self::Frozen> {
        Ok(ProviderInstanceGen {
            provider_id: self.provider_id,
            provider_name: self.provider_name,
            fields: self
                .fields
                .into_iter()
                .map(|(k, v)| Ok((k, v.freeze(freezer)?)))
                .collect::<FreezeResult<_>>()?,
        })
    }
}

#[starlark_value(type = "provider_instance")]
impl<'v, V: ValueLike<'v>> StarlarkValue<'v> for ProviderInstanceGen<V>
where
    Self: ProvidesStaticType<'v>,
{
    fn get_attr(&self, attribute: &str, _heap: Heap<'v>) -> Option<Value<'v>> {
        // Fields that were declared but not set read as None, as in Bazel.
        Some(self.field(attribute).unwrap_or_else(Value::new_none))
    }

    fn dir_attr(&self) -> Vec<String> {
        self.fields.iter().map(|(n, _)| n.clone()).collect()
    }
}

/// An analysed dependency, as `ctx.attr.<label attribute>` shows it: `dep[ImageInfo]`,
/// `dep.label`.
#[derive(Debug, Trace, Coerce, ProvidesStaticType, NoSerialize, Allocative)]
#[repr(C)]
pub struct TargetGen<V> {
    label: String,
    providers: Vec<V>,
}
starlark_complex_value!(pub Target);

impl<'v> Target<'v> {
    /// A target with its providers.
    pub fn new(label: &Label, providers: Vec<Value<'v>>) -> Target<'v> {
        TargetGen {
            label: label.to_string(),
            providers,
        }
    }
}

impl<'v, V: ValueLike<'v>> TargetGen<V> {
    /// The instance of provider `id` this target returned, if any.
    pub fn provider(&self, id: u64) -> Option<Value<'v>> {
        self.providers.iter().map(|p| p.to_value()).find(|p| {
            ProviderInstance::from_value(*p).is_some_and(|instance| instance.is_instance_of(id))
        })
    }
}

impl<V> fmt::Display for TargetGen<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<target {}>", self.label)
    }
}

impl<'v> Freeze for Target<'v> {
    type Frozen = FrozenTarget;
    fn freeze(self, freezer: &Freezer) -> FreezeResult<Self::Frozen> {
        Ok(TargetGen {
            label: self.label,
            providers: self.providers.freeze(freezer)?,
        })
    }
}

#[starlark_value(type = "Target")]
impl<'v, V: ValueLike<'v>> StarlarkValue<'v> for TargetGen<V>
where
    Self: ProvidesStaticType<'v>,
{
    fn at(&self, index: Value<'v>, _heap: Heap<'v>) -> starlark::Result<Value<'v>> {
        let Some(provider) = index.downcast_ref::<Provider>() else {
            return Err(display_error(format!(
                "targets are indexed by a provider (`dep[ImageInfo]`), not `{}`",
                index.get_type()
            )));
        };
        self.provider(provider.id).ok_or_else(|| {
            display_error(format!(
                "target `{}` does not provide `{}`",
                self.label,
                provider.name()
            ))
        })
    }

    fn is_in(&self, other: Value<'v>) -> starlark::Result<bool> {
        Ok(other
            .downcast_ref::<Provider>()
            .is_some_and(|p| self.provider(p.id).is_some()))
    }

    fn get_attr(&self, attribute: &str, heap: Heap<'v>) -> Option<Value<'v>> {
        match attribute {
            "label" => Label::parse(&self.label, "")
                .ok()
                .map(|l| heap.alloc(LabelValue(l))),
            _ => None,
        }
    }
}

/// Shared description of a rule: its attributes and name.
#[derive(Debug, Allocative)]
pub struct RuleMeta {
    /// Declared attributes (besides `name`).
    #[allocative(skip)]
    pub attrs: Vec<AttrSpec>,
    /// The variable the rule was assigned to (`pkg_tar`).
    #[allocative(skip)]
    pub name: OnceLock<String>,
    /// Documentation.
    pub doc: String,
}

impl RuleMeta {
    /// The rule's name, as exported.
    pub fn name(&self) -> &str {
        self.name
            .get()
            .map(String::as_str)
            .unwrap_or("<anonymous rule>")
    }
}

/// A rule being defined in a `.star` file that has not finished loading.
#[derive(Debug, Trace, ProvidesStaticType, NoSerialize, Allocative)]
pub struct Rule<'v> {
    /// The implementation function.
    pub implementation: Value<'v>,
    /// Attributes and name.
    #[trace(unsafe_ignore)]
    pub meta: Arc<RuleMeta>,
}

impl<'v> Rule<'v> {
    /// A rule calling `implementation` at analysis.
    pub fn new(implementation: Value<'v>, meta: RuleMeta) -> Rule<'v> {
        Rule {
            implementation,
            meta: Arc::new(meta),
        }
    }
}

/// A rule from a loaded `.star` file: callable from BUILD files to declare targets.
#[derive(Debug, ProvidesStaticType, NoSerialize, Allocative)]
pub struct FrozenRule {
    /// The implementation function.
    pub implementation: FrozenValue,
    /// Attributes and name.
    pub meta: Arc<RuleMeta>,
}

impl fmt::Display for Rule<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<rule {}>", self.meta.name())
    }
}

impl fmt::Display for FrozenRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<rule {}>", self.meta.name())
    }
}

impl<'v> AllocValue<'v> for Rule<'v> {
    fn alloc_value(self, heap: Heap<'v>) -> Value<'v> {
        heap.alloc_complex(self)
    }
}

impl<'v> Freeze for Rule<'v> {
    type Frozen = FrozenRule;
    fn freeze(self, freezer: &Freezer) -> FreezeResult<FrozenRule> {
        Ok(FrozenRule {
            implementation: self.implementation.freeze(freezer)?,
            meta: self.meta,
        })
    }
}

#[starlark_value(type = "rule")]
impl<'v> StarlarkValue<'v> for Rule<'v> {
    fn export_as(
        &self,
        variable_name: &str,
        _eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<()> {
        let _ = self.meta.name.set(variable_name.to_owned());
        Ok(())
    }

    fn invoke(
        &self,
        _me: Value<'v>,
        _args: &Arguments<'v, '_>,
        _eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        Err(display_error(format!(
            "rule `{}` is called in the file that defines it: declare rules in a `.star` file and `load()` them in BUILD.star",
            self.meta.name()
        )))
    }
}

#[starlark_value(type = "rule")]
impl<'v> StarlarkValue<'v> for FrozenRule {
    type Canonical = Rule<'v>;

    fn invoke(
        &self,
        me: Value<'v>,
        args: &Arguments<'v, '_>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        let frozen = me
            .unpack_frozen()
            .expect("invariant: FrozenRule lives on a frozen heap");
        crate::package::declare_target(frozen, &self.meta, args, eval)
    }
}
