//! Metadata instructions (BuildKit's `dispatchEnv`, `dispatchLabel`, `dispatchCmd`, …): what a
//! stage sets over its base (the overlay the image action applies) and the effective values
//! later instructions expand with. None of them adds a layer; all but `ONBUILD` add a history
//! entry, in BuildKit's words ([`crate::history`]).

mod checks;

use std::collections::HashMap;

use bld_core::{Healthcheck, ImageConfigSpec};
use bld_dockerfile::instructions::{
    ArgDefinition, Healthcheck as HealthcheckInstruction, KeyValue,
};
use bld_dockerfile::{CommandLine, Environment, Instruction, ShellLex};

use crate::error::Problem;
use crate::history;

/// Configuration of one stage so far.
#[derive(Debug, Clone)]
pub(crate) struct StageConfig {
    /// What this stage sets over its base image.
    pub(crate) overlay: ImageConfigSpec,
    /// Environment in effect (the base's plus this stage's `ENV`s).
    pub(crate) env: Vec<(String, String)>,
    /// `ARG`s declared in this stage, with their values.
    pub(crate) args: HashMap<String, String>,
    /// The names of the `ARG`s declared in this stage, in order, a name declared twice listed
    /// twice: what `RUN`'s history lists (BuildKit's `buildArgs`).
    pub(crate) declared_args: Vec<String>,
    /// `WORKDIR` in effect.
    pub(crate) workdir: String,
    /// `USER` in effect.
    pub(crate) user: String,
    /// `SHELL` in effect.
    pub(crate) shell: Vec<String>,
    /// `ONBUILD` triggers of the image so far, which a stage built on it runs first.
    pub(crate) triggers: Vec<Instruction>,
    /// `VOLUME`s declared so far (absolute paths), inherited from earlier stages.
    pub(crate) volumes: Vec<String>,
}

impl Default for StageConfig {
    fn default() -> Self {
        StageConfig {
            overlay: ImageConfigSpec::default(),
            env: Vec::new(),
            args: HashMap::new(),
            declared_args: Vec::new(),
            workdir: "/".to_owned(),
            user: String::new(),
            shell: vec!["/bin/sh".to_owned(), "-c".to_owned()],
            triggers: Vec::new(),
            volumes: Vec::new(),
        }
    }
}

/// The `PATH` BuildKit and buildah give an image built on `scratch`.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A stage's variables as word expansion sees them ([`StageConfig::variables`]).
struct StageVariables<'a> {
    config: &'a StageConfig,
}

impl Environment for StageVariables<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.config.value_of(name)
    }
}

/// Joins `path` onto `base` and normalizes it to an absolute path.
pub(crate) fn absolute(base: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("{base}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Replaces `key`'s value where it is, or appends it (Docker keeps a variable's position).
pub(crate) fn set_in_place(pairs: &mut Vec<(String, String)>, key: &str, value: &str) {
    match pairs.iter_mut().find(|(k, _)| k == key) {
        Some(pair) => pair.1 = value.to_owned(),
        None => pairs.push((key.to_owned(), value.to_owned())),
    }
}

/// The arguments of the stage's `ARG`s: what `--build-arg` gives and the global `ARG`s.
pub(crate) struct ArgValues<'a> {
    /// The global `ARG`s' values (and the predefined platform ARGs).
    pub(crate) global: &'a HashMap<String, String>,
    /// `--build-arg` values; the last one given for a name wins.
    pub(crate) given: &'a [(String, String)],
}

impl StageConfig {
    /// The configuration of a stage built on `scratch`: the default `PATH` and `WorkingDir:
    /// "/"`, as BuildKit's `emptyImage` sets them (an image built on another keeps the base's
    /// `WorkingDir`, none if it has none).
    pub(crate) fn scratch() -> StageConfig {
        let path = ("PATH".to_owned(), DEFAULT_PATH.to_owned());
        let mut config = StageConfig::default();
        config.env.push(path.clone());
        config.overlay.env.push(path);
        config.overlay.workdir = Some(config.workdir.clone());
        config
    }

    /// The configuration a stage built on this one starts from: effective values kept, nothing
    /// to set (the base image already has it).
    pub(crate) fn inherited(&self) -> StageConfig {
        let overlay = ImageConfigSpec {
            clear_on_build: !self.triggers.is_empty(),
            ..ImageConfigSpec::default()
        };
        StageConfig {
            overlay,
            args: HashMap::new(),
            declared_args: Vec::new(),
            triggers: Vec::new(),
            ..self.clone()
        }
    }

    /// The variables `$NAME` expands with: this stage's ARGs, overridden by its environment.
    /// A view, not a copy: copying every value for every word would make a Dockerfile of many
    /// large variables quadratic.
    fn variables(&self) -> StageVariables<'_> {
        StageVariables { config: self }
    }

    /// The value of the variable `name` as a step sees it: the environment's, else the ARG's.
    pub(crate) fn value_of(&self, name: &str) -> Option<&str> {
        match self.env.iter().find(|(key, _)| key == name) {
            Some((_, value)) => Some(value),
            None => self.args.get(name).map(String::as_str),
        }
    }

    /// Expands `word` (quotes removed) with the stage's variables.
    pub(crate) fn expand(&self, lex: &ShellLex, word: &str) -> Result<String, String> {
        lex.process_word(word, &self.variables())
            .map_err(|e| e.to_string())
    }

    /// Expands the argument `word`; an error points at it.
    pub(crate) fn expand_argument(&self, lex: &ShellLex, word: &str) -> Result<String, Problem> {
        self.expand(lex, word)
            .map_err(|message| Problem::user(message).at_argument(word))
    }

    /// The arguments a command runs with: the exec form as given, the shell form through the
    /// stage's `SHELL`.
    pub(crate) fn command(&self, command: &CommandLine) -> Vec<String> {
        match command {
            CommandLine::Exec(args) => args.clone(),
            CommandLine::Shell(text) => self.shell.iter().cloned().chain([text.clone()]).collect(),
        }
    }

    /// Applies a metadata instruction; returns its history `created_by`, if it has one.
    pub(crate) fn apply_metadata(
        &mut self,
        lex: &ShellLex,
        instruction: &Instruction,
        args: &ArgValues<'_>,
    ) -> Result<Option<String>, Problem> {
        let created_by = match instruction {
            Instruction::Arg { args: declared } => self.declare_args(lex, declared, args)?,
            Instruction::Env { variables } => format!("ENV {}", self.set_env(lex, variables)?),
            Instruction::Label { labels } => format!("LABEL {}", self.set_labels(lex, labels)?),
            Instruction::Expose { ports } => self.expose(lex, ports)?,
            Instruction::Workdir { path } => {
                let path = self.expand_argument(lex, path)?;
                self.workdir = absolute(&self.workdir, &path);
                self.overlay.workdir = Some(self.workdir.clone());
                format!("WORKDIR {}", self.workdir)
            }
            Instruction::User { user } => {
                let user = self.expand_argument(lex, user)?;
                self.user = user.clone();
                self.overlay.user = Some(user.clone());
                format!("USER {user}")
            }
            Instruction::Volume { paths } => self.add_volumes(lex, paths)?,
            Instruction::StopSignal { signal } => {
                let expanded = self.expand_argument(lex, signal)?;
                checks::check_stop_signal(&expanded)
                    .map_err(|message| Problem::user(message).at_argument(signal))?;
                let signal = expanded;
                self.overlay.stop_signal = Some(signal.clone());
                format!("STOPSIGNAL {signal}")
            }
            other => return self.apply_unexpanded(other),
        };
        Ok(Some(created_by))
    }

    /// The metadata instructions whose values are not expanded; returns the history text, if
    /// the instruction has one.
    fn apply_unexpanded(&mut self, instruction: &Instruction) -> Result<Option<String>, Problem> {
        Ok(Some(match instruction {
            Instruction::Cmd { command } => {
                let command = self.command(command);
                let text = history::command("CMD", &command);
                self.overlay.cmd = Some(command);
                // BuildKit sets it for every CMD, shell or exec form; not for ENTRYPOINT.
                self.overlay.args_escaped = true;
                text
            }
            Instruction::Entrypoint { command } => {
                let command = self.command(command);
                let text = history::command("ENTRYPOINT", &command);
                self.overlay.entrypoint = Some(command);
                text
            }
            Instruction::Healthcheck(check) => {
                let settings = healthcheck(check);
                let text = history::healthcheck(&settings);
                self.overlay.healthcheck = Some(settings);
                text
            }
            Instruction::Shell { shell } => {
                self.shell = shell.clone();
                self.overlay.shell = Some(shell.clone());
                history::words("SHELL", shell)
            }
            Instruction::Maintainer { name } => {
                self.overlay.author = Some(name.clone());
                format!("MAINTAINER {name}")
            }
            Instruction::Onbuild {
                expression,
                trigger,
            } => {
                self.overlay.on_build.push(expression.clone());
                self.triggers.push((**trigger).clone());
                // BuildKit writes no history for it; the trigger gets an entry where it runs.
                return Ok(None);
            }
            _ => return Err(Problem::internal("not a metadata instruction")),
        }))
    }

    /// `ARG`: each name takes the `--build-arg` value, else its default, else the global
    /// `ARG`'s value; without any it is unset. Returns the history text: the names, with
    /// their defaults expanded (not the values given).
    fn declare_args(
        &mut self,
        lex: &ShellLex,
        declared: &[ArgDefinition],
        values: &ArgValues<'_>,
    ) -> Result<String, Problem> {
        let mut text = Vec::new();
        for arg in declared {
            let given = values
                .given
                .iter()
                .rev()
                .find(|(k, _)| *k == arg.name)
                .map(|(_, v)| v.clone());
            let default = match &arg.default {
                Some(default) => Some(self.expand(lex, default).map_err(|message| {
                    Problem::user(message).at_argument(&format!("{}={default}", arg.name))
                })?),
                None => None,
            };
            text.push(match &default {
                Some(default) => format!("{}={default}", arg.name),
                None => arg.name.clone(),
            });
            let value = given
                .or(default)
                .or_else(|| values.global.get(&arg.name).cloned());
            match value {
                Some(value) => self.args.insert(arg.name.clone(), value),
                None => self.args.remove(&arg.name),
            };
            self.declared_args.push(arg.name.clone());
        }
        Ok(format!("ARG {}", text.join(" ")))
    }

    /// `ENV`: returns the `key=value` pairs as history shows them.
    fn set_env(&mut self, lex: &ShellLex, variables: &[KeyValue]) -> Result<String, Problem> {
        let mut text = Vec::new();
        for variable in variables {
            let key = self.expand_argument(lex, &variable.key)?;
            let value = self.expand_argument(lex, &variable.value)?;
            text.push(format!("{key}={value}"));
            set_in_place(&mut self.env, &key, &value);
            set_in_place(&mut self.overlay.env, &key, &value);
        }
        Ok(text.join(" "))
    }

    /// `LABEL`: returns the `key=value` pairs as history shows them.
    fn set_labels(&mut self, lex: &ShellLex, labels: &[KeyValue]) -> Result<String, Problem> {
        let mut text = Vec::new();
        for label in labels {
            let key = self.expand_argument(lex, &label.key)?;
            let value = self.expand_argument(lex, &label.value)?;
            text.push(format!("{key}={value}"));
            set_in_place(&mut self.overlay.labels, &key, &value);
        }
        Ok(text.join(" "))
    }

    /// `EXPOSE`: a port word may expand to several.
    fn expose(&mut self, lex: &ShellLex, ports: &[String]) -> Result<String, Problem> {
        let mut exposed = Vec::new();
        for port in ports {
            let words = lex
                .process_words(port, &self.variables())
                .map_err(|e| Problem::user(e.to_string()).at_argument(port))?;
            for word in &words {
                exposed.extend(
                    checks::exposed_ports(word)
                        .map_err(|message| Problem::user(message).at_argument(port))?,
                );
            }
        }
        let text = history::expose(&exposed);
        self.overlay.exposed_ports.extend(exposed);
        Ok(text)
    }

    /// `VOLUME`: the image lists them as written; `RUN` steps see them as absolute paths.
    fn add_volumes(&mut self, lex: &ShellLex, paths: &[String]) -> Result<String, Problem> {
        let mut expanded = Vec::new();
        for path in paths {
            expanded.push(self.expand_argument(lex, path)?);
        }
        self.overlay.volumes.extend(expanded.iter().cloned());
        self.volumes
            .extend(expanded.iter().map(|v| absolute(&self.workdir, v)));
        Ok(history::words("VOLUME", &expanded))
    }
}

/// `HEALTHCHECK` as the image config holds it.
fn healthcheck(check: &HealthcheckInstruction) -> Healthcheck {
    match check {
        HealthcheckInstruction::Disabled => Healthcheck {
            test: vec!["NONE".into()],
            ..Healthcheck::default()
        },
        HealthcheckInstruction::Check {
            command,
            interval,
            timeout,
            start_period,
            start_interval,
            retries,
        } => {
            let test = match command {
                CommandLine::Exec(args) => ["CMD".to_owned()]
                    .into_iter()
                    .chain(args.iter().cloned())
                    .collect(),
                CommandLine::Shell(text) => vec!["CMD-SHELL".to_owned(), text.clone()],
            };
            let ns = |d: &Option<std::time::Duration>| d.map_or(0, |d| d.as_nanos() as u64);
            Healthcheck {
                test,
                interval_ns: ns(interval),
                timeout_ns: ns(timeout),
                start_period_ns: ns(start_period),
                start_interval_ns: ns(start_interval),
                retries: retries.unwrap_or(0),
            }
        }
    }
}
