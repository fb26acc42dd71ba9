//! The native functions every `.star` and `BUILD.star` file sees: `rule`, `provider`, `attr`,
//! `DefaultInfo`, `glob`, `package_name`.

use starlark::environment::{Globals, GlobalsBuilder, LibraryExtension};
use starlark::eval::Evaluator;
use starlark::values::list_or_tuple::UnpackListOrTuple;
use starlark::values::{Value, ValueLike};
use starlark_derive::starlark_module;

use crate::attrs::{AttrDescriptor, register_attr};
use crate::package::PackageContext;
use crate::values::{Provider, Rule, RuleMeta};

/// The globals of every file bld evaluates.
pub fn bld_globals() -> Globals {
    GlobalsBuilder::extended_by(&[
        LibraryExtension::StructType,
        LibraryExtension::Print,
        LibraryExtension::Json,
        LibraryExtension::Map,
        LibraryExtension::Filter,
        LibraryExtension::Debug,
    ])
    .with(register_rules)
    .with(crate::limits::register_checked_operators)
    .with_namespace("attr", register_attr)
    .build()
}

fn package_context<'a>(
    eval: &'a Evaluator<'_, '_, '_>,
    function: &str,
) -> anyhow::Result<&'a PackageContext> {
    eval.extra
        .and_then(|extra| extra.downcast_ref::<PackageContext>())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "`{function}()` can only be called while a BUILD.star file is evaluated"
            )
        })
}

#[starlark_module]
fn register_rules(builder: &mut GlobalsBuilder) {
    /// Declares a rule: `implementation` is called at analysis with a `ctx` and returns a list
    /// of providers; `attrs` maps attribute names to `attr.*` declarations (`name` is implicit).
    ///
    /// ```python
    /// def _greeting_impl(ctx):
    ///     out = ctx.actions.write(ctx.attr.name + ".txt", "Hello, " + ctx.attr.who + "\n")
    ///     return [DefaultInfo(files = [out])]
    ///
    /// greeting = rule(implementation = _greeting_impl, attrs = {"who": attr.string(mandatory = True)})
    /// ```
    fn rule<'v>(
        #[starlark(require = named)] implementation: Value<'v>,
        #[starlark(require = named)] attrs: Option<Value<'v>>,
        #[starlark(require = named, default = "")] doc: &str,
    ) -> anyhow::Result<Rule<'v>> {
        if implementation.get_type() != "function" {
            anyhow::bail!(
                "`implementation` must be a function, got `{}`",
                implementation.get_type()
            );
        }
        let mut specs = Vec::new();
        if let Some(attrs) = attrs.filter(|a| !a.is_none()) {
            let dict = starlark::values::dict::DictRef::from_value(attrs)
                .ok_or_else(|| anyhow::anyhow!("`attrs` must be a dict of name to `attr.*()`"))?;
            for (name, descriptor) in dict.iter() {
                let name = name
                    .unpack_str()
                    .ok_or_else(|| anyhow::anyhow!("attribute names are strings, got `{name}`"))?;
                if name == "name" {
                    anyhow::bail!("attribute `name` is implicit: do not declare it");
                }
                let descriptor = descriptor.downcast_ref::<AttrDescriptor>().ok_or_else(|| {
                    anyhow::anyhow!("attribute `{name}`: expected `attr.string()`, `attr.label_list()`, …, got `{descriptor}`")
                })?;
                let mut spec = descriptor.spec.clone();
                spec.name = name.to_owned();
                specs.push(spec);
            }
        }
        Ok(Rule::new(
            implementation,
            RuleMeta {
                attrs: specs,
                name: Default::default(),
                doc: doc.to_owned(),
            },
        ))
    }

    /// Declares a provider: a named record a rule returns for the rules that depend on it.
    ///
    /// ```python
    /// ImageInfo = provider(doc = "An OCI image", fields = ["image"])
    /// ```
    fn provider(
        #[starlark(require = named, default = UnpackListOrTuple::default())]
        fields: UnpackListOrTuple<String>,
        #[starlark(require = named, default = "")] doc: &str,
    ) -> anyhow::Result<Provider> {
        let _ = doc;
        Ok(Provider::new(fields.items))
    }

    /// The provider every target has: `files`, its default outputs.
    ///
    /// ```python
    /// return [DefaultInfo(files = [out])]
    /// ```
    const DefaultInfo: Provider = Provider::default_info();

    /// The files of the current package whose paths (relative to the package) match any of
    /// `include` and none of `exclude`, sorted. `*` matches within a path component, `**` across
    /// components. Files of subpackages are never matched.
    ///
    /// ```python
    /// srcs = glob(["static/**"], exclude = ["**/*.tmp"])
    /// ```
    fn glob<'v>(
        #[starlark(require = pos)] include: UnpackListOrTuple<String>,
        #[starlark(require = named, default = UnpackListOrTuple::default())]
        exclude: UnpackListOrTuple<String>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Vec<String>> {
        let context = package_context(eval, "glob")?;
        crate::glob::glob(
            &context.sources,
            &context.package_dir,
            &include.items,
            &exclude.items,
        )
    }

    /// The path of the package being evaluated (`examples/hello`), `""` at the root.
    ///
    /// ```python
    /// pkg = package_name()
    /// ```
    fn package_name<'v>(eval: &mut Evaluator<'v, '_, '_>) -> anyhow::Result<String> {
        Ok(package_context(eval, "package_name")?.package.clone())
    }
}
