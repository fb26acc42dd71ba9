//! The argument checks BuildKit's `convert_*` make of metadata instructions once their words
//! are expanded (Docker's `nat.ParsePortSpecs` for `EXPOSE`, `signal.ParseSignal` for
//! `STOPSIGNAL`), with bld's wording: what was found and what was expected.

/// What `EXPOSE` takes, for messages.
const PORT_EXPECTED: &str =
    "expected a port 0-65535 or a range such as 8000-8010, optionally with /tcp, /udp or /sctp";

/// The ports one `EXPOSE` word exposes, as the image lists them (`80/tcp`): the protocol
/// lower-cased (`tcp` when none is given), a range expanded to its ports, an `ip:host:`
/// prefix (a `docker run -p` spec) dropped, as Docker does.
pub(crate) fn exposed_ports(word: &str) -> Result<Vec<String>, String> {
    // `[ip:][host:]container[/proto]`; the IP may itself hold colons (IPv6).
    let container = word.rsplit(':').next().unwrap_or(word);
    let (port, proto) = match container.split_once('/') {
        Some((port, "")) => (port, "tcp".to_owned()),
        Some((port, proto)) => (port, proto.to_ascii_lowercase()),
        None => (container, "tcp".to_owned()),
    };
    if port.is_empty() {
        return Err(format!("no port in `{word}`: {PORT_EXPECTED}"));
    }
    if !["tcp", "udp", "sctp"].contains(&proto.as_str()) {
        return Err(format!("invalid protocol in `{word}`: {PORT_EXPECTED}"));
    }
    let number = |text: &str| text.parse::<u16>().ok();
    let (start, end) = match port.split_once('-') {
        Some((start, end)) => (number(start), number(end)),
        None => (number(port), number(port)),
    };
    match (start, end) {
        (Some(start), Some(end)) if start <= end => Ok((start..=end)
            .map(|port| format!("{port}/{proto}"))
            .collect()),
        _ => Err(format!("invalid port `{port}`: {PORT_EXPECTED}")),
    }
}

/// Linux's signal names as Docker knows them, without `SIG`.
const SIGNALS: &[&str] = &[
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX",
];

/// Checks a `STOPSIGNAL` as Docker does: a non-zero number, or a signal's name in any case,
/// with or without `SIG` (`RTMIN+n` and `RTMAX-n` for n up to 15). The image keeps it as
/// written.
pub(crate) fn check_stop_signal(signal: &str) -> Result<(), String> {
    let valid = match signal.parse::<i64>() {
        Ok(number) => number != 0,
        Err(_) => {
            let upper = signal.to_ascii_uppercase();
            let name = upper.strip_prefix("SIG").unwrap_or(&upper);
            let realtime = |base: &str, sign: char| {
                name.strip_prefix(base)
                    .and_then(|rest| rest.strip_prefix(sign))
                    .and_then(|n| n.parse::<u8>().ok())
                    .is_some_and(|n| (1..=15).contains(&n))
            };
            SIGNALS.contains(&name) || realtime("RTMIN", '+') || realtime("RTMAX", '-')
        }
    };
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid signal `{signal}`: expected a signal name such as SIGTERM or KILL, or a non-zero number"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Docker 20.10.24's answers for the same words (its `ExposedPorts` keys, or an error).
    #[test]
    fn ports_are_read_as_docker_reads_them() {
        let ports = |word| exposed_ports(word).map_err(|_| ());
        assert_eq!(ports("80"), Ok(vec!["80/tcp".to_owned()]));
        assert_eq!(ports("8080/TCP"), Ok(vec!["8080/tcp".to_owned()]));
        assert_eq!(ports("80/"), Ok(vec!["80/tcp".to_owned()]));
        assert_eq!(ports("0"), Ok(vec!["0/tcp".to_owned()]));
        assert_eq!(ports("80/sctp"), Ok(vec!["80/sctp".to_owned()]));
        assert_eq!(ports("127.0.0.1:80:80"), Ok(vec!["80/tcp".to_owned()]));
        assert_eq!(ports("8000:80"), Ok(vec!["80/tcp".to_owned()]));
        assert_eq!(
            ports("1-3/udp"),
            Ok(vec![
                "1/udp".to_owned(),
                "2/udp".to_owned(),
                "3/udp".to_owned()
            ])
        );
        for refused in ["80/xyz", "99999", "65536", "90-80", "abc", "/tcp", ""] {
            assert_eq!(ports(refused), Err(()), "{refused}");
        }
    }

    /// Docker 20.10.24 accepts and refuses the same signals.
    #[test]
    fn stop_signals_are_checked_as_docker_checks_them() {
        for valid in [
            "9",
            "99",
            "-1",
            "KILL",
            "SIGTERM",
            "sigterm",
            "RTMIN",
            "SIGRTMIN+3",
            "RTMAX-15",
        ] {
            assert_eq!(check_stop_signal(valid), Ok(()), "{valid}");
        }
        for invalid in ["0", "SIGFOO", "RTMIN+16", "TERM2", ""] {
            assert!(check_stop_signal(invalid).is_err(), "{invalid}");
        }
    }
}
