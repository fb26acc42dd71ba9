//! Image history entries in BuildKit's words (`commitToHistory` in Docker 20.10.24's BuildKit
//! 0.8, checked against it by `tests/it/docker_peer.rs`): the text each instruction leaves in
//! `created_by`, with Go's formatting where BuildKit formats with `fmt`, and the entry's
//! `comment`.
//!
//! | instruction | `created_by` |
//! |---|---|
//! | `RUN` | `RUN \|2 A=1 B= /bin/sh -c make # buildkit`: the ARGs in scope, then the arguments run |
//! | `COPY`, `ADD` | `COPY a b /dest # buildkit`: sources and destination expanded, no flags |
//! | `CMD`, `ENTRYPOINT` | `CMD ["/bin/sh" "-c" "x"]` (Go's `%q`) |
//! | `SHELL`, `VOLUME` | `SHELL [/bin/sh -ec]` (Go's `%v`) |
//! | `EXPOSE` | `EXPOSE map[53/udp:{} 80/tcp:{}]`: the instruction's ports, sorted |
//! | `HEALTHCHECK` | `HEALTHCHECK &{["CMD-SHELL" "x"] "5s" "0s" "0s" '\x03'}` |
//! | `ARG` | `ARG A=1 B`: defaults expanded |
//! | `ENV`, `LABEL` | `ENV A=1 B=two words` |
//! | `WORKDIR`, `USER`, `STOPSIGNAL`, `MAINTAINER` | the expanded argument |
//! | `ONBUILD` | no entry (its trigger gets one where it runs) |

mod go_format;

use bld_core::{Healthcheck, HistoryStep};

use crate::metadata::StageConfig;

/// The `comment` of every entry a Dockerfile instruction makes. BuildKit writes
/// `buildkit.dockerfile.v0`, the name of its front-end; bld writes its own name in the same
/// shape, because the comment says who made the entry (`docker history` shows it, and `docker
/// image inspect` shows the last one as the image's `Comment`), and bld is not BuildKit. No
/// tool found reads the string: dive and Trivy read `created_by` (Trivy recognises BuildKit's
/// layer entries by the ` # buildkit` suffix, which bld therefore keeps) and `empty_layer`.
pub(crate) const COMMENT: &str = "bld.dockerfile.v0";

/// A history entry of a Dockerfile instruction.
pub(crate) fn entry(created_by: String, empty_layer: bool) -> HistoryStep {
    HistoryStep {
        created_by,
        empty_layer,
        comment: Some(COMMENT.to_owned()),
    }
}

/// `text` marked as BuildKit marks the entries of `RUN`, `COPY` and `ADD` (those that make a
/// layer by running or copying; `WORKDIR`'s directory is not marked).
pub(crate) fn with_layer_marker(text: String) -> String {
    format!("{text} # buildkit")
}

/// `RUN`'s text (BuildKit's `runCommandString`): `|N` and the stage's ARGs (in the order
/// declared, a name declared twice listed twice, each with the value the step sees, empty when
/// unset), then the arguments run (the shell's too for the shell form), joined by spaces.
pub(crate) fn run(args: &[String], config: &StageConfig) -> String {
    let mut words: Vec<String> = Vec::new();
    if !config.declared_args.is_empty() {
        words.push(format!("|{}", config.declared_args.len()));
        for name in &config.declared_args {
            words.push(format!("{name}={}", config.value_of(name).unwrap_or("")));
        }
    }
    words.extend(args.iter().cloned());
    with_layer_marker(format!("RUN {}", words.join(" ")))
}

/// `CMD` or `ENTRYPOINT` with its arguments (Go's `%q` of the list).
pub(crate) fn command(keyword: &str, args: &[String]) -> String {
    format!("{keyword} {}", go_format::quoted_list(args))
}

/// `SHELL` or `VOLUME` with its words (Go's `%v` of the list).
pub(crate) fn words(keyword: &str, words: &[String]) -> String {
    format!("{keyword} {}", go_format::plain_list(words))
}

/// `EXPOSE` with the ports of this instruction, as Go prints the set Docker's
/// `nat.ParsePortSpecs` returns: sorted, each once.
pub(crate) fn expose(ports: &[String]) -> String {
    let mut ports: Vec<&str> = ports.iter().map(String::as_str).collect();
    ports.sort_unstable();
    ports.dedup();
    let entries: Vec<String> = ports.iter().map(|port| format!("{port}:{{}}")).collect();
    format!("EXPOSE map[{}]", entries.join(" "))
}

/// `HEALTHCHECK` as BuildKit 0.8 prints its `*HealthConfig` with `%q`: the test, the interval,
/// timeout and start period as Go durations, the retries as a rune literal. BuildKit 0.8 has no
/// `--start-interval`; when one is given it follows the start period, where the field is in
/// the `HealthConfig` of the Docker releases that have it.
pub(crate) fn healthcheck(check: &Healthcheck) -> String {
    let mut fields = vec![go_format::quoted_list(&check.test)];
    let mut durations = vec![check.interval_ns, check.timeout_ns, check.start_period_ns];
    if check.start_interval_ns != 0 {
        durations.push(check.start_interval_ns);
    }
    fields.extend(
        durations
            .into_iter()
            .map(|ns| go_format::quote(&go_format::duration(ns))),
    );
    fields.push(go_format::quote_rune(check.retries));
    format!("HEALTHCHECK &{{{}}}", fields.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthchecks_read_as_buildkit_prints_them() {
        let s = 1_000_000_000;
        let check = Healthcheck {
            test: vec!["CMD".into(), "wget".into(), "-q".into(), "x".into()],
            interval_ns: 90 * s,
            timeout_ns: 1_500_000_000,
            start_period_ns: 3600 * s,
            start_interval_ns: 0,
            retries: 3,
        };
        assert_eq!(
            healthcheck(&check),
            r#"HEALTHCHECK &{["CMD" "wget" "-q" "x"] "1m30s" "1.5s" "1h0m0s" '\x03'}"#
        );
        let none = Healthcheck {
            test: vec!["NONE".into()],
            ..Healthcheck::default()
        };
        assert_eq!(
            healthcheck(&none),
            r#"HEALTHCHECK &{["NONE"] "0s" "0s" "0s" '\x00'}"#
        );
    }

    #[test]
    fn exposed_ports_read_as_go_prints_a_set() {
        let ports: Vec<String> = ["9/tcp", "100/tcp", "10/tcp", "9/tcp"]
            .map(String::from)
            .to_vec();
        assert_eq!(expose(&ports), "EXPOSE map[10/tcp:{} 100/tcp:{} 9/tcp:{}]");
    }
}
