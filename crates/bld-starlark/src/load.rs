//! Loading `.star` modules (`load("//rules:foo.star", "x")`) and evaluating BUILD files.

use std::cell::RefCell;
use std::collections::HashMap;

use bld_core::{BUILD_FILE, Label, WORKSPACE_FILE, Workspace};
use starlark::environment::{FrozenModule, Globals, Module};
use starlark::eval::{Evaluator, ReturnFileLoader};
use starlark::syntax::{AstModule, Dialect};

use crate::FrontendError;
use crate::globals::bld_globals;
use crate::limits;
use crate::package::{PackageContext, TargetDecl};
use crate::sources::Sources;

/// bld's own rules, embedded in the binary as the `@bld` repository.
const EMBEDDED_RULES: &[(&str, &str)] = &[
    ("prelude.star", include_str!("../../../rules/prelude.star")),
    ("pkg.star", include_str!("../../../rules/pkg.star")),
    ("oci.star", include_str!("../../../rules/oci.star")),
    (
        "dockerfile.star",
        include_str!("../../../rules/dockerfile.star"),
    ),
    ("deb.star", include_str!("../../../rules/deb.star")),
];

fn dialect() -> Dialect {
    Dialect {
        enable_f_strings: true,
        ..Dialect::Extended
    }
}

/// Evaluates Starlark files of one workspace, caching loaded modules.
pub struct Loader {
    workspace: Workspace,
    globals: Globals,
    prelude: Option<FrozenModule>,
    modules: RefCell<HashMap<Label, FrozenModule>>,
    in_progress: RefCell<Vec<Label>>,
    sources: Sources,
}

impl Loader {
    /// A loader for `workspace`; evaluates `WORKSPACE.star` and bld's prelude.
    pub fn new(workspace: Workspace) -> Result<Loader, FrontendError> {
        let sources = Sources::new(workspace.root());
        let mut loader = Loader {
            workspace,
            globals: bld_globals(),
            prelude: None,
            modules: RefCell::default(),
            in_progress: RefCell::default(),
            sources,
        };
        let prelude_label =
            Label::parse("@bld//rules:prelude.star", "").expect("invariant: valid label");
        loader.prelude = Some(loader.load_module(&prelude_label, None)?);
        let workspace_file = loader.workspace.root().join(WORKSPACE_FILE);
        let text = loader.read_source(&workspace_file, WORKSPACE_FILE)?;
        loader.evaluate(WORKSPACE_FILE, text, "", None)?;
        Ok(loader)
    }

    /// The workspace.
    pub fn workspace(&self) -> &Workspace {
        &self.workspace
    }

    /// Everything loading and analysis asked of the workspace so far.
    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    fn read_source(&self, path: &std::path::Path, display: &str) -> Result<String, FrontendError> {
        self.sources
            .read_to_string(path)
            .map_err(|e| FrontendError::User {
                message: format!("cannot read `{display}`: {e}"),
            })
    }

    /// Every module loaded so far (analysis keeps their heaps alive).
    pub(crate) fn loaded_modules(&self) -> Vec<FrozenModule> {
        self.modules
            .borrow()
            .values()
            .cloned()
            .chain(self.prelude.clone())
            .collect()
    }

    /// Evaluates the BUILD file of `package` and returns the targets it declares.
    pub fn eval_build_file(&self, package: &str) -> Result<Vec<TargetDecl>, FrontendError> {
        let dir = self.workspace.package_dir(package);
        let display = if package.is_empty() {
            BUILD_FILE.to_owned()
        } else {
            format!("{package}/{BUILD_FILE}")
        };
        let text = self.read_source(&dir.join(BUILD_FILE), &display)?;
        let context = PackageContext::new(package, dir, &display, self.sources.clone());
        self.evaluate(&display, text, package, Some(&context))?;
        Ok(context.into_targets())
    }

    /// Parses and evaluates one file; `context` is set for BUILD files.
    fn evaluate(
        &self,
        display: &str,
        text: String,
        package: &str,
        context: Option<&PackageContext>,
    ) -> Result<FrozenModule, FrontendError> {
        limits::check_source(display, &text)
            .map_err(|(location, limit)| FrontendError::Limit { location, limit })?;
        let mut ast =
            AstModule::parse(display, text, &dialect()).map_err(FrontendError::starlark)?;
        ast.replace_binary_operators(
            &limits::CHECKED_OPERATORS
                .iter()
                .map(|(op, function)| ((*op).to_owned(), (*function).to_owned()))
                .collect(),
        );
        let mut loaded = HashMap::new();
        for load in ast.loads() {
            let location = span_location(&load.span);
            let label = Label::parse(load.module_id, package).map_err(|e| FrontendError::User {
                message: format!("{location}: cannot load `{}`: {e}", load.module_id),
            })?;
            if !label.name().ends_with(".star") {
                return Err(FrontendError::User {
                    message: format!(
                        "{location}: cannot load `{}`: expected a `.star` file",
                        load.module_id
                    ),
                });
            }
            let module = self.load_module(&label, Some(&location))?;
            loaded.insert(load.module_id.to_owned(), module);
        }
        let modules: HashMap<&str, &FrozenModule> =
            loaded.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let file_loader = ReturnFileLoader { modules: &modules };
        limits::contain_panics(display, || {
            Module::with_temp_heap(|module| {
                if let Some(prelude) = &self.prelude {
                    module.import_public_symbols(prelude);
                }
                {
                    let mut eval = Evaluator::new(&module);
                    limits::limit(&mut eval);
                    eval.set_loader(&file_loader);
                    if let Some(context) = context {
                        eval.extra = Some(context);
                    }
                    eval.eval_module(ast, &self.globals)
                        .map_err(FrontendError::starlark)?;
                }
                module.freeze().map_err(|e| FrontendError::User {
                    message: format!("{display}: {e:?}"),
                })
            })
        })
    }

    /// Loads (once) the module `label`; `from` is the location of the `load()` for messages.
    fn load_module(
        &self,
        label: &Label,
        from: Option<&str>,
    ) -> Result<FrozenModule, FrontendError> {
        if let Some(module) = self.modules.borrow().get(label) {
            return Ok(module.clone());
        }
        let at = from.map(|f| format!("{f}: ")).unwrap_or_default();
        if let Some(position) = self.in_progress.borrow().iter().position(|l| l == label) {
            let cycle: Vec<String> = self.in_progress.borrow()[position..]
                .iter()
                .chain([label])
                .map(|l| l.to_string())
                .collect();
            return Err(FrontendError::User {
                message: format!("{at}load cycle: {}", cycle.join(" -> ")),
            });
        }
        let (display, text) = match label.repo() {
            Some("bld") => {
                let text = (label.package() == "rules")
                    .then(|| {
                        EMBEDDED_RULES
                            .iter()
                            .find(|(name, _)| *name == label.name())
                    })
                    .flatten()
                    .map(|(_, text)| text.to_string())
                    .ok_or_else(|| FrontendError::User {
                        message: format!(
                            "{at}cannot load `{label}`: bld provides {}",
                            EMBEDDED_RULES
                                .iter()
                                .map(|(n, _)| format!("`@bld//rules:{n}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    })?;
                (label.to_string(), text)
            }
            Some(other) => {
                return Err(FrontendError::User {
                    message: format!(
                        "{at}cannot load `{label}`: unknown repository `@{other}` (only `@bld` exists)"
                    ),
                });
            }
            None => {
                let path = label.workspace_path();
                crate::patterns::resolve_inside_workspace(
                    &self.sources,
                    self.workspace.root(),
                    label,
                )
                .map_err(|e| FrontendError::User {
                    message: format!("{at}cannot load `{label}`: {e}"),
                })?;
                let text = self
                    .sources
                    .read_to_string(&self.workspace.root().join(&path))
                    .map_err(|e| FrontendError::User {
                        message: format!("{at}cannot load `{label}`: cannot read `{path}`: {e}"),
                    })?;
                (path, text)
            }
        };
        self.in_progress.borrow_mut().push(label.clone());
        let result = self.evaluate(&display, text, label.package(), None);
        self.in_progress.borrow_mut().pop();
        let module = result?;
        self.modules
            .borrow_mut()
            .insert(label.clone(), module.clone());
        Ok(module)
    }
}

/// `file:line:col` (1-based) of a span.
pub(crate) fn span_location(span: &starlark::codemap::FileSpan) -> String {
    let resolved = span.resolve();
    format!(
        "{}:{}:{}",
        resolved.file,
        resolved.span.begin.line + 1,
        resolved.span.begin.column + 1
    )
}
