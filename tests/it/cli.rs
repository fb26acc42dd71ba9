//! The command line itself: shell completion scripts, and every `--help` pinned by a snapshot.

use crate::support::Sandbox;

/// The subcommands every completion script must offer.
const SUBCOMMANDS: &[&str] = &[
    "build",
    "query",
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
