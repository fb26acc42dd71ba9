//! Expanding target patterns and walking dependencies: which packages to load, which targets
//! and source files a build needs, and in which order.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use bld_core::{BUILD_FILE, Label, TargetPattern, WORKSPACE_FILE};

use crate::package::TargetDecl;
use crate::sources::{EntryKind, Sources};
use crate::{FrontendError, Loader};

/// The file at the workspace root listing directories (one per line, relative to the root)
/// that package discovery skips, like `.bazelignore`.
pub const IGNORE_FILE: &str = ".bldignore";

/// Loaded packages and their targets.
#[derive(Default)]
pub struct TargetSet {
    packages: BTreeMap<String, Package>,
}

/// One loaded package: its targets in declaration order, and an index by name.
struct Package {
    targets: Vec<TargetDecl>,
    by_name: HashMap<String, usize>,
}

impl Package {
    fn new(targets: Vec<TargetDecl>) -> Package {
        let by_name = targets
            .iter()
            .enumerate()
            .map(|(i, t)| (t.label.name().to_owned(), i))
            .collect();
        Package { targets, by_name }
    }

    fn get(&self, name: &str) -> Option<&TargetDecl> {
        self.by_name.get(name).map(|&i| &self.targets[i])
    }
}

/// A node of the dependency walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    /// A rule target.
    Target(Label),
    /// A source file.
    Source(Label),
}

impl TargetSet {
    /// Loads `package` if it is not loaded yet.
    fn ensure_package(
        &mut self,
        loader: &Loader,
        package: &str,
    ) -> Result<&Package, FrontendError> {
        if !self.packages.contains_key(package) {
            let targets = loader.eval_build_file(package)?;
            self.packages
                .insert(package.to_owned(), Package::new(targets));
        }
        Ok(&self.packages[package])
    }

    /// The declaration of `label`, if its package is loaded and declares it.
    pub fn get(&self, label: &Label) -> Option<&TargetDecl> {
        self.packages.get(label.package())?.get(label.name())
    }

    /// `roots` and everything they depend on, dependencies first. Checks that every label
    /// names a target or an existing source file inside the workspace, and that there is no cycle.
    pub(crate) fn closure(
        &mut self,
        loader: &Loader,
        roots: &[Label],
    ) -> Result<Vec<Node>, FrontendError> {
        let mut state: HashMap<Label, bool> = HashMap::new(); // false: in progress, true: done
        let mut order = Vec::new();
        let mut stack = Vec::new();
        for root in roots {
            self.visit(loader, root, None, &mut state, &mut stack, &mut order)?;
        }
        Ok(order)
    }

    fn visit(
        &mut self,
        loader: &Loader,
        label: &Label,
        referrer: Option<(&TargetDecl, &str)>,
        state: &mut HashMap<Label, bool>,
        stack: &mut Vec<Label>,
        order: &mut Vec<Node>,
    ) -> Result<(), FrontendError> {
        match state.get(label) {
            Some(true) => return Ok(()),
            Some(false) => {
                let start = stack.iter().position(|l| l == label).unwrap_or(0);
                let cycle: Vec<String> = stack[start..]
                    .iter()
                    .chain([label])
                    .map(|l| l.to_string())
                    .collect();
                let at = referrer
                    .map(|(t, _)| format!("{}: ", t.location))
                    .unwrap_or_default();
                return Err(FrontendError::user(format!(
                    "{at}dependency cycle: {}",
                    cycle.join(" -> ")
                )));
            }
            None => {}
        }
        let at = |message: String| match referrer {
            Some((target, attr)) => FrontendError::user(format!(
                "{}: {}: attribute `{attr}`: {message}",
                target.location, target.label
            )),
            None => FrontendError::user(message),
        };
        if label.repo().is_some() {
            return Err(at(format!(
                "`{label}`: targets of other repositories are not supported yet"
            )));
        }
        let package_dir = loader.workspace().package_dir(label.package());
        if !loader.sources().is_file(&package_dir.join(BUILD_FILE)) {
            return Err(at(format!(
                "no package `//{}` for `{label}`: expected a `{BUILD_FILE}` in `{}`",
                label.package(),
                package_dir.display()
            )));
        }
        self.ensure_package(loader, label.package())?;
        let Some(target) = self.get(label).cloned() else {
            check_source(loader, label).map_err(at)?;
            state.insert(label.clone(), true);
            order.push(Node::Source(label.clone()));
            return Ok(());
        };
        state.insert(label.clone(), false);
        stack.push(label.clone());
        for (attr, dep) in target.deps() {
            self.visit(loader, dep, Some((&target, attr)), state, stack, order)?;
        }
        stack.pop();
        state.insert(label.clone(), true);
        order.push(Node::Target(label.clone()));
        Ok(())
    }
}

/// Checks that `label` names a regular file inside its package (not in a subpackage) and inside
/// the workspace (even through symlinks).
fn check_source(loader: &Loader, label: &Label) -> Result<(), String> {
    let sources = loader.sources();
    let root = loader.workspace().root();
    let mut dir = loader.workspace().package_dir(label.package());
    let parts: Vec<&str> = label.name().split('/').collect();
    for part in &parts[..parts.len() - 1] {
        dir = dir.join(part);
        if sources.is_file(&dir.join(BUILD_FILE)) {
            return Err(format!(
                "`{label}` is inside package `//{}`: name it by that package's label",
                dir.strip_prefix(root).unwrap_or(&dir).display()
            ));
        }
    }
    let Some(resolved) = resolve_inside_workspace(sources, root, label)? else {
        return Err(format!(
            "no target or source file `{label}`: `{}` does not exist and package `//{}` declares no target `{}`",
            label.workspace_path(),
            label.package(),
            label.name()
        ));
    };
    if !sources.is_file(&resolved) {
        return Err(format!(
            "source `{label}` is not a regular file (name files, or use `glob()` for directories)"
        ));
    }
    Ok(())
}

/// Where the file `label` names resolves, symlinks followed (`None`: it does not exist); refused
/// when that is outside the workspace at `root`. Sources and `load()`ed files both go through it.
pub(crate) fn resolve_inside_workspace(
    sources: &Sources,
    root: &Path,
    label: &Label,
) -> Result<Option<std::path::PathBuf>, String> {
    let Ok(resolved) = sources.canonicalize(&root.join(label.workspace_path())) else {
        return Ok(None);
    };
    if !resolved.starts_with(root) {
        return Err(format!(
            "source `{label}` resolves to `{}`, outside the workspace: sources and loaded files must be inside `{}`",
            resolved.display(),
            root.display()
        ));
    }
    Ok(Some(resolved))
}

/// Expands `patterns` into the labels they name (loading the packages involved).
pub fn expand_patterns(
    loader: &Loader,
    set: &mut TargetSet,
    patterns: &[TargetPattern],
) -> Result<Vec<Label>, FrontendError> {
    let mut labels = Vec::new();
    for pattern in patterns {
        let before = labels.len();
        match pattern {
            TargetPattern::Single(label) => {
                let dir = loader.workspace().package_dir(label.package());
                if !loader.sources().is_file(&dir.join(BUILD_FILE)) {
                    return Err(FrontendError::user(format!(
                        "no package `//{}`: expected a `{BUILD_FILE}` in `{}`",
                        label.package(),
                        dir.display()
                    )));
                }
                let package = set.ensure_package(loader, label.package())?;
                if package.get(label.name()).is_none() {
                    let names: Vec<&str> = package.targets.iter().map(|t| t.label.name()).collect();
                    return Err(FrontendError::user(format!(
                        "no target `{label}`: package `//{}` declares {}",
                        label.package(),
                        if names.is_empty() {
                            "no targets".to_owned()
                        } else {
                            format!("`{}`", names.join("`, `"))
                        }
                    )));
                }
                labels.push(label.clone());
            }
            TargetPattern::AllInPackage(package) => {
                let package = set.ensure_package(loader, package)?;
                labels.extend(package.targets.iter().map(|t| t.label.clone()));
            }
            TargetPattern::Recursive(prefix) => {
                for package in
                    discover_packages(loader.sources(), loader.workspace().root(), prefix)?
                {
                    let package = set.ensure_package(loader, &package)?;
                    labels.extend(package.targets.iter().map(|t| t.label.clone()));
                }
            }
        }
        if labels.len() == before {
            return Err(FrontendError::user(format!("no targets match `{pattern}`")));
        }
    }
    let mut seen = std::collections::HashSet::new();
    labels.retain(|l| seen.insert(l.clone()));
    Ok(labels)
}

/// Every package at or below `prefix`, sorted. Skips hidden directories, `bld-out`, nested
/// workspaces and the directories listed in `.bldignore`.
fn discover_packages(
    sources: &Sources,
    root: &Path,
    prefix: &str,
) -> Result<Vec<String>, FrontendError> {
    let ignored: Vec<String> = sources
        .read_to_string(&root.join(IGNORE_FILE))
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim().trim_matches('/').to_owned())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let mut packages = Vec::new();
    let mut pending = vec![prefix.to_owned()];
    while let Some(relative) = pending.pop() {
        let dir = if relative.is_empty() {
            root.to_owned()
        } else {
            root.join(&relative)
        };
        if sources.is_file(&dir.join(BUILD_FILE)) {
            packages.push(relative.clone());
        }
        let entries = match sources.read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && relative == prefix => {
                return Err(FrontendError::user(format!(
                    "no directory `{prefix}` in the workspace"
                )));
            }
            Err(source) => return Err(FrontendError::Io { path: dir, source }),
        };
        for (name, kind) in entries {
            if name.starts_with('.') || kind != EntryKind::Dir {
                continue;
            }
            let child = if relative.is_empty() {
                name
            } else {
                format!("{relative}/{name}")
            };
            if child == crate::sources::OUTPUT_DIR
                || ignored.contains(&child)
                || sources.is_file(&root.join(&child).join(WORKSPACE_FILE))
            {
                continue;
            }
            pending.push(child);
        }
    }
    packages.sort();
    Ok(packages)
}

/// `roots` and everything they depend on (targets and source files), in dependency order.
pub fn query_deps(
    loader: &Loader,
    set: &mut TargetSet,
    roots: &[Label],
) -> Result<Vec<Label>, FrontendError> {
    Ok(set
        .closure(loader, roots)?
        .into_iter()
        .map(|node| match node {
            Node::Target(l) | Node::Source(l) => l,
        })
        .collect())
}
