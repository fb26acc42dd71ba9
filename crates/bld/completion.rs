//! `bld completion bash|zsh|fish`: the shell's completion script for bld, from the command
//! line's own definition (`clap_complete`).

use std::io::Write;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::{Classified, Failure, FailureContext};

/// Arguments of `bld completion`.
#[derive(Args)]
pub(crate) struct CompletionArgs {
    /// The shell: `bash` (`source <(bld completion bash)`), `zsh` (put it in a directory of
    /// `$fpath` as `_bld`), `fish` (`bld completion fish > ~/.config/fish/completions/bld.fish`),
    /// `elvish` or `powershell`.
    shell: Shell,
}

/// Prints the completion script; a reader that stops early ends it quietly.
pub(crate) fn run(args: CompletionArgs) -> Result<(), Failure> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut crate::Cli::command(), "bld", &mut script);
    match std::io::stdout().lock().write_all(&script) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        written => written
            .internal_fault()
            .with_context(|| "cannot write the completion script to stdout"),
    }
}
