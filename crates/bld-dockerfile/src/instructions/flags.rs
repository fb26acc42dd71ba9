//! Checking an instruction's `--flags` against the flags it takes (BuildKit's `BFlags`).

use std::time::Duration;

use crate::ast::Node;
use crate::error::{DockerfileError, Position};

/// How a flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FlagKind {
    /// `--name`, `--name=true`, `--name=false`; at most once.
    Bool,
    /// `--name=value`; at most once.
    Single,
    /// `--name=value`; any number of times.
    Repeated,
}

/// The flags given to one instruction, checked against what it takes.
#[derive(Debug)]
pub(super) struct Flags {
    /// `(name, value, position)`; a bool flag's value is `"true"` or `"false"`.
    given: Vec<(&'static str, String, Position)>,
}

impl Flags {
    /// Checks `node`'s flags against `accepted`.
    pub(super) fn parse(
        node: &Node,
        instruction: &'static str,
        accepted: &[(&'static str, FlagKind)],
    ) -> Result<Flags, DockerfileError> {
        let mut given: Vec<(&'static str, String, Position)> = Vec::new();
        for (index, flag) in node.flags.iter().enumerate() {
            let at = node.flag_position(index);
            let body = flag.strip_prefix("--").unwrap_or(flag);
            let (name, value) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (body, None),
            };
            let Some(&(name, kind)) = accepted.iter().find(|(known, _)| *known == name) else {
                return Err(DockerfileError::UnknownFlag {
                    at,
                    instruction,
                    flag: name.to_owned(),
                    expected: describe_accepted(accepted),
                });
            };
            if kind != FlagKind::Repeated && given.iter().any(|(seen, _, _)| *seen == name) {
                return Err(DockerfileError::DuplicateFlag {
                    at,
                    instruction,
                    flag: name.to_owned(),
                });
            }
            let invalid = |value: &str, expected: &str| DockerfileError::InvalidFlagValue {
                at,
                instruction,
                flag: name.to_owned(),
                value: value.to_owned(),
                expected: expected.to_owned(),
            };
            let value = match (kind, value) {
                (FlagKind::Bool, None) => "true".to_owned(),
                (FlagKind::Bool, Some(text)) => match text.to_ascii_lowercase().as_str() {
                    "true" => "true".to_owned(),
                    "false" => "false".to_owned(),
                    _ => return Err(invalid(text, "`true` or `false`")),
                },
                (_, Some(text)) => text.to_owned(),
                (_, None) => {
                    return Err(invalid("", &format!("a value: `--{name}=<value>`")));
                }
            };
            given.push((name, value, at));
        }
        Ok(Flags { given })
    }

    /// The value of a single-valued flag, if given.
    pub(super) fn single(&self, name: &str) -> Option<String> {
        self.given
            .iter()
            .find(|(flag, _, _)| *flag == name)
            .map(|(_, value, _)| value.clone())
    }

    /// Every value of a repeated flag with its position, in order.
    pub(super) fn repeated(&self, name: &str) -> Vec<(String, Position)> {
        self.given
            .iter()
            .filter(|(flag, _, _)| *flag == name)
            .map(|(_, value, at)| (value.clone(), *at))
            .collect()
    }

    /// Whether a bool flag is set (given without a value or as `true`).
    pub(super) fn enabled(&self, name: &str) -> bool {
        self.single(name).is_some_and(|value| value == "true")
    }

    /// A bool flag's value if it was given at all.
    pub(super) fn bool_if_given(&self, name: &str) -> Option<bool> {
        self.single(name).map(|value| value == "true")
    }

    /// Where the flag `name` was given.
    pub(super) fn position(&self, name: &str) -> Option<Position> {
        self.given
            .iter()
            .find(|(flag, _, _)| *flag == name)
            .map(|(_, _, at)| *at)
    }
}

fn describe_accepted(accepted: &[(&'static str, FlagKind)]) -> String {
    if accepted.is_empty() {
        return "no flags".to_owned();
    }
    let names: Vec<String> = accepted
        .iter()
        .map(|(name, _)| format!("`--{name}`"))
        .collect();
    format!("one of {}", names.join(", "))
}

/// Parses a Go duration (`300ms`, `1.5h`, `2h45m`): decimal numbers each followed by one
/// of the units `ns`, `us`, `µs`, `ms`, `s`, `m`, `h`; `0` alone is allowed. Negative
/// durations are refused.
pub(super) fn parse_go_duration(text: &str) -> Option<Duration> {
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let text = text.strip_prefix('+').unwrap_or(text);
    if text.is_empty() {
        return None;
    }
    let mut rest = text;
    let mut total_nanos: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total_nanos += value * nanos_per_unit;
    }
    if !total_nanos.is_finite() || total_nanos > u64::MAX as f64 {
        return None;
    }
    Some(Duration::from_nanos(total_nanos.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("0s"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("300ms"), Some(Duration::from_millis(300)));
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(parse_go_duration("-5s"), None);
        assert_eq!(parse_go_duration("5x"), None);
        assert_eq!(parse_go_duration(""), None);
    }
}
