//! Rule attributes: `attr.string()`, `attr.label_list()`, … and the values targets give them.

use std::fmt;

use allocative::Allocative;
use bld_core::Label;
use starlark::any::ProvidesStaticType;
use starlark::collections::SmallMap;
use starlark::environment::GlobalsBuilder;
use starlark::starlark_simple_value;
use starlark::values::dict::DictRef;
use starlark::values::list_or_tuple::UnpackListOrTuple;
use starlark::values::{Heap, NoSerialize, StarlarkValue, Value};
use starlark_derive::{starlark_module, starlark_value};

/// The type of an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    /// `attr.string()`
    String,
    /// `attr.string_list()`
    StringList,
    /// `attr.string_dict()`
    StringDict,
    /// `attr.int()`
    Int,
    /// `attr.bool()`
    Bool,
    /// `attr.label()`: one dependency.
    Label,
    /// `attr.label_list()`: dependencies.
    LabelList,
    /// `attr.string_keyed_label_dict()`: dependencies by name.
    StringKeyedLabelDict,
}

impl AttrType {
    fn expected(self) -> &'static str {
        match self {
            AttrType::String => "a string",
            AttrType::StringList => "a list of strings",
            AttrType::StringDict => "a dict of strings to strings",
            AttrType::Int => "an int",
            AttrType::Bool => "a bool",
            AttrType::Label => "a label string",
            AttrType::LabelList => "a list of label strings",
            AttrType::StringKeyedLabelDict => "a dict of strings to label strings",
        }
    }
}

/// The value of one attribute of a declared target, with labels already resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// Not set and without a default.
    None,
    /// A string.
    String(String),
    /// A list of strings.
    StringList(Vec<String>),
    /// A dict of strings, in the order given.
    StringDict(Vec<(String, String)>),
    /// An int.
    Int(i64),
    /// A bool.
    Bool(bool),
    /// One label.
    Label(Label),
    /// Labels.
    LabelList(Vec<Label>),
    /// Labels by name, in the order given.
    LabelDict(Vec<(String, Label)>),
}

impl AttrValue {
    /// The labels this value names (the target's dependencies through it).
    pub fn labels(&self) -> Vec<&Label> {
        match self {
            AttrValue::Label(l) => vec![l],
            AttrValue::LabelList(ls) => ls.iter().collect(),
            AttrValue::LabelDict(pairs) => pairs.iter().map(|(_, l)| l).collect(),
            _ => Vec::new(),
        }
    }
}

/// A declared attribute of a rule.
#[derive(Debug, Clone)]
pub struct AttrSpec {
    /// The attribute's name.
    pub name: String,
    /// Its type.
    pub ty: AttrType,
    /// Whether a target must set it.
    pub mandatory: bool,
    /// Its value when not set.
    pub default: AttrValue,
}

/// The value of `attr.string(...)` and friends, before it is given a name in `rule(attrs=…)`.
#[derive(Debug, Clone, ProvidesStaticType, NoSerialize, Allocative)]
pub struct AttrDescriptor {
    #[allocative(skip)]
    pub(crate) spec: AttrSpec,
}
starlark_simple_value!(AttrDescriptor);

impl fmt::Display for AttrDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<attr {:?}>", self.spec.ty)
    }
}

#[starlark_value(type = "attribute")]
impl<'v> StarlarkValue<'v> for AttrDescriptor {}

/// Converts a Starlark value given for attribute `spec` of a target in `package`.
pub fn attr_value_from_starlark(
    spec: &AttrSpec,
    value: Value<'_>,
    package: &str,
) -> Result<AttrValue, String> {
    let wrong = || {
        format!(
            "attribute `{}`: expected {}, got `{}` of type `{}`",
            spec.name,
            spec.ty.expected(),
            value,
            value.get_type()
        )
    };
    let label = |text: &str| {
        Label::parse(text, package).map_err(|e| format!("attribute `{}`: {e}", spec.name))
    };
    if value.is_none() {
        return Ok(if spec.mandatory {
            AttrValue::None
        } else {
            spec.default.clone()
        });
    }
    Ok(match spec.ty {
        AttrType::String => AttrValue::String(value.unpack_str().ok_or_else(wrong)?.to_owned()),
        AttrType::Int => AttrValue::Int(value.unpack_i32().ok_or_else(wrong)?.into()),
        AttrType::Bool => AttrValue::Bool(value.unpack_bool().ok_or_else(wrong)?),
        AttrType::StringList => AttrValue::StringList(string_list(value).ok_or_else(wrong)?),
        AttrType::Label => AttrValue::Label(label(value.unpack_str().ok_or_else(wrong)?)?),
        AttrType::LabelList => AttrValue::LabelList(
            string_list(value)
                .ok_or_else(wrong)?
                .iter()
                .map(|s| label(s))
                .collect::<Result<_, _>>()?,
        ),
        AttrType::StringDict | AttrType::StringKeyedLabelDict => {
            let dict = DictRef::from_value(value).ok_or_else(wrong)?;
            let mut pairs = Vec::new();
            for (k, v) in dict.iter() {
                let (Some(k), Some(v)) = (k.unpack_str(), v.unpack_str()) else {
                    return Err(wrong());
                };
                pairs.push((k.to_owned(), v.to_owned()));
            }
            if spec.ty == AttrType::StringKeyedLabelDict {
                let labels = pairs
                    .into_iter()
                    .map(|(k, v)| Ok((k, label(&v)?)))
                    .collect::<Result<_, String>>()?;
                AttrValue::LabelDict(labels)
            } else {
                AttrValue::StringDict(pairs)
            }
        }
    })
}

fn string_list(value: Value<'_>) -> Option<Vec<String>> {
    let items: UnpackListOrTuple<Value<'_>> =
        starlark::values::UnpackValue::unpack_value(value).ok()??;
    items
        .items
        .iter()
        .map(|v| v.unpack_str().map(str::to_owned))
        .collect()
}

/// A plain (non-label) attribute value as Starlark sees it in `ctx.attr`.
pub fn attr_value_to_starlark<'v>(value: &AttrValue, heap: Heap<'v>) -> Value<'v> {
    match value {
        AttrValue::None => Value::new_none(),
        AttrValue::String(s) => heap.alloc(s.as_str()),
        AttrValue::StringList(items) => heap.alloc(items.clone()),
        AttrValue::StringDict(pairs) => {
            let map: SmallMap<String, String> = pairs.iter().cloned().collect();
            heap.alloc(map)
        }
        AttrValue::Int(i) => heap.alloc(*i as i32),
        AttrValue::Bool(b) => Value::new_bool(*b),
        AttrValue::Label(l) => heap.alloc(l.to_string()),
        AttrValue::LabelDict(pairs) => {
            let map: SmallMap<String, String> = pairs
                .iter()
                .map(|(k, l)| (k.clone(), l.to_string()))
                .collect();
            heap.alloc(map)
        }
        AttrValue::LabelList(ls) => {
            heap.alloc(ls.iter().map(|l| l.to_string()).collect::<Vec<_>>())
        }
    }
}

fn descriptor(
    ty: AttrType,
    mandatory: bool,
    default: Option<Value<'_>>,
    doc: &str,
) -> anyhow::Result<AttrDescriptor> {
    let _ = doc;
    let mut spec = AttrSpec {
        name: String::new(),
        ty,
        mandatory,
        default: AttrValue::None,
    };
    if let Some(default) = default.filter(|d| !d.is_none()) {
        // Label defaults are resolved as absolute labels (`//pkg:name`).
        spec.default = attr_value_from_starlark(
            &AttrSpec {
                mandatory: false,
                ..spec.clone()
            },
            default,
            "",
        )
        .map_err(|e| anyhow::anyhow!("default: {e}"))?;
    }
    Ok(AttrDescriptor { spec })
}

/// `attr.*`: attribute declarations for `rule(attrs = {...})`.
#[starlark_module]
pub fn register_attr(builder: &mut GlobalsBuilder) {
    /// A string attribute.
    ///
    /// ```python
    /// attrs = {"mode": attr.string(default = "0644")}
    /// ```
    fn string<'v>(
        #[starlark(require = named, default = false)] mandatory: bool,
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
    ) -> anyhow::Result<AttrDescriptor> {
        descriptor(AttrType::String, mandatory, default, doc)
    }

    /// A list-of-strings attribute.
    ///
    /// ```python
    /// attrs = {"cmd": attr.string_list()}
    /// ```
    fn string_list<'v>(
        #[starlark(require = named, default = false)] mandatory: bool,
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
    ) -> anyhow::Result<AttrDescriptor> {
        descriptor(AttrType::StringList, mandatory, default, doc)
    }

    /// A dict-of-strings attribute.
    ///
    /// ```python
    /// attrs = {"env": attr.string_dict()}
    /// ```
    fn string_dict<'v>(
        #[starlark(require = named, default = false)] mandatory: bool,
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
    ) -> anyhow::Result<AttrDescriptor> {
        descriptor(AttrType::StringDict, mandatory, default, doc)
    }

    /// An integer attribute.
    ///
    /// ```python
    /// attrs = {"count": attr.int(default = 1)}
    /// ```
    fn int<'v>(
        #[starlark(require = named, default = false)] mandatory: bool,
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
    ) -> anyhow::Result<AttrDescriptor> {
        descriptor(AttrType::Int, mandatory, default, doc)
    }

    /// A boolean attribute.
    ///
    /// ```python
    /// attrs = {"executable": attr.bool(default = False)}
    /// ```
    fn bool<'v>(
        #[starlark(require = named, default = false)] mandatory: bool,
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
    ) -> anyhow::Result<AttrDescriptor> {
        descriptor(AttrType::Bool, mandatory, default, doc)
    }

    /// One dependency: a target or a source file. `ctx.attr.<name>` is the analysed target.
    ///
    /// ```python
    /// attrs = {"base": attr.label()}
    /// ```
    fn label<'v>(
        #[starlark(require = named, default = false)] mandatory: bool,
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
    ) -> anyhow::Result<AttrDescriptor> {
        descriptor(AttrType::Label, mandatory, default, doc)
    }

    /// Dependencies by name: a dict of strings to labels. `ctx.attr.<name>` maps each name to
    /// the analysed target.
    ///
    /// ```python
    /// attrs = {"stages": attr.string_keyed_label_dict()}
    /// ```
    fn string_keyed_label_dict<'v>(
        #[starlark(require = named, default = false)] mandatory: bool,
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
    ) -> anyhow::Result<AttrDescriptor> {
        descriptor(AttrType::StringKeyedLabelDict, mandatory, default, doc)
    }

    /// Dependencies: targets or source files. `ctx.attr.<name>` is a list of analysed targets and
    /// `ctx.files.<name>` their files.
    ///
    /// ```python
    /// attrs = {"srcs": attr.label_list()}
    /// ```
    fn label_list<'v>(
        #[starlark(require = named, default = false)] mandatory: bool,
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
    ) -> anyhow::Result<AttrDescriptor> {
        descriptor(AttrType::LabelList, mandatory, default, doc)
    }
}
