//! The command line itself: shell completion scripts, and every `--help` pinned by a snapshot.

use crate::support::{Sandbox, assert_run_snapshot};

/// The subcommands every completion script must offer.
const SUBCOMMANDS: &[&str] = &[
    "build",
    "query",
    "why",
    "watch",
    "aquery",
    "graph",
    "clean",
    "run",
    "images",
    "image",
    "inspect",
    "history",
    "tag",
    "rmi",
    "save",
    "load",
    "gc",
    "completion",
];

#[test]
fn completion_scripts_offer_every_subcommand() {
    let sandbox = Sandbox::new();
    for shell in ["bash", "zsh", "fish"] {
        let script = sandbox.bld(&["completion", shell]).ok().stdout;
        assert!(script.lines().count() > 20, "{shell}: {script}");
        for subcommand in SUBCOMMANDS {
            assert!(
                script.contains(subcommand),
                "{shell}'s script lacks `{subcommand}`"
            );
        }
    }
    // bash's parses (`bash -n` reads it without running it).
    let bash = sandbox.bld(&["completion", "bash"]).ok().stdout;
    let file = sandbox.path().join("bld.bash");
    std::fs::write(&file, &bash).expect("write");
    crate::support::tool("bash", &["-n", &file.display().to_string()]);
    assert!(bash.contains("complete -F _bld"), "bash registers it");

    let unknown = sandbox.bld(&["completion", "ksh"]);
    assert_eq!(unknown.code, 1, "{}", unknown.stderr);
    assert!(
        unknown.stderr.contains("invalid value 'ksh'"),
        "{}",
        unknown.stderr
    );
}

/// Every command line bld takes, as `bld ARGS --help` is asked for it.
const COMMANDS: &[&[&str]] = &[
    &[],
    &["build"],
    &["query"],
    &["why"],
    &["watch"],
    &["aquery"],
    &["graph"],
    &["clean"],
    &["run"],
    &["images"],
    &["image"],
    &["image", "ls"],
    &["image", "inspect"],
    &["image", "history"],
    &["image", "tag"],
    &["image", "rm"],
    &["image", "prune"],
    &["image", "save"],
    &["image", "load"],
    &["image", "pull"],
    &["image", "push"],
    &["inspect"],
    &["history"],
    &["tag"],
    &["rmi"],
    &["save"],
    &["load"],
    &["pull"],
    &["push"],
    &["login"],
    &["logout"],
    &["search"],
    &["ps"],
    &["rm"],
    &["logs"],
    &["diff"],
    &["commit"],
    &["container"],
    &["container", "ls"],
    &["container", "rm"],
    &["container", "logs"],
    &["container", "diff"],
    &["container", "commit"],
    &["container", "inspect"],
    &["container", "start"],
    &["container", "stop"],
    &["container", "restart"],
    &["container", "kill"],
    &["container", "wait"],
    &["container", "exec"],
    &["container", "export"],
    &["container", "rename"],
    &["container", "prune"],
    &["container", "cp"],
    &["container", "top"],
    &["top"],
    &["attach"],
    &["pause"],
    &["unpause"],
    &["import"],
    &["image", "import"],
    &["container", "pause"],
    &["container", "unpause"],
    &["volume"],
    &["volume", "create"],
    &["volume", "ls"],
    &["volume", "inspect"],
    &["volume", "rm"],
    &["volume", "prune"],
    &["container", "attach"],
    &["cp"],
    &["exec"],
    &["export"],
    &["rename"],
    &["start"],
    &["stop"],
    &["restart"],
    &["kill"],
    &["wait"],
    &["gc"],
    &["completion"],
];

#[test]
fn every_help_is_pinned() {
    let sandbox = Sandbox::new();
    for command in COMMANDS {
        let mut args = command.to_vec();
        args.push("--help");
        let run = sandbox.bld(&args).ok();
        let name = if command.is_empty() {
            "help".to_owned()
        } else {
            format!("help_{}", command.join("_"))
        };
        assert_run_snapshot!(name, sandbox, run);
    }
}

#[test]
fn every_subcommand_has_its_help_pinned() {
    // A subcommand added to bld without a line in COMMANDS would go unpinned.
    let sandbox = Sandbox::new();
    let help = sandbox.bld(&["--help"]).ok().stdout;
    let listed: Vec<&str> = help
        .split("Commands:\n")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .expect("a Commands section")
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .collect();
    for name in listed {
        assert!(
            COMMANDS.iter().any(|c| c.first() == Some(&name)),
            "`bld {name} --help` is not pinned"
        );
    }
}
