//! Go's `fmt` verbs as BuildKit's history texts use them: `%q` of a string, a `[]string` and
//! an `int` (a rune literal), `%v` of a `[]string`, and `time.Duration`'s `String`.

/// Whether Go's `unicode.IsPrint` holds for `c`, which `%q` leaves unescaped: exact for ASCII;
/// beyond it, control, whitespace, format and private-use characters are not printable (Go
/// also escapes unassigned code points, which Rust's `char` does not know).
fn printable(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_graphic() || c == ' ';
    }
    let format = matches!(
        c,
        '\u{ad}'
            | '\u{600}'..='\u{605}'
            | '\u{61c}'
            | '\u{6dd}'
            | '\u{70f}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
    );
    let private = matches!(c, '\u{e000}'..='\u{f8ff}' | '\u{f0000}'..);
    !(c.is_control() || c.is_whitespace() || format || private)
}

/// Appends `c` as Go's `strconv` quotes it between `quote`s.
fn push_escaped(out: &mut String, c: char, quote: char) {
    match c {
        c if c == quote || c == '\\' => {
            out.push('\\');
            out.push(c);
        }
        c if printable(c) => out.push(c),
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        c if c < ' ' || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// `%q` of a string (`strconv.Quote`): `"a\"b"`.
pub(crate) fn quote(text: &str) -> String {
    let mut out = String::from('"');
    for c in text.chars() {
        push_escaped(&mut out, c, '"');
    }
    out.push('"');
    out
}

/// `%q` of an integer: the rune literal of its code point (`3` is `'\x03'`, `65` is `'A'`),
/// U+FFFD for one that is no Unicode scalar value.
pub(crate) fn quote_rune(value: u32) -> String {
    let c = char::from_u32(value).unwrap_or('\u{fffd}');
    let mut out = String::from('\'');
    push_escaped(&mut out, c, '\'');
    out.push('\'');
    out
}

/// `%q` of a `[]string`: `["a" "b"]`.
pub(crate) fn quoted_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| quote(item)).collect();
    format!("[{}]", quoted.join(" "))
}

/// `%v` of a `[]string`: `[a b]`.
pub(crate) fn plain_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// The decimal fraction of `value / 10^digits` without trailing zeros (none at all when it
/// is zero), and the integer part.
fn fraction(value: u64, digits: u32) -> (String, u64) {
    let scale = 10u64.pow(digits);
    let (whole, rest) = (value / scale, value % scale);
    if rest == 0 {
        return (String::new(), whole);
    }
    let text = format!("{rest:0width$}", width = digits as usize);
    (format!(".{}", text.trim_end_matches('0')), whole)
}

/// `time.Duration(ns).String()`: `0s`, `1.5s`, `1m30s`, `1h0m0s`, `250µs`, `100ns`.
pub(crate) fn duration(ns: u64) -> String {
    const SECOND: u64 = 1_000_000_000;
    if ns == 0 {
        return "0s".to_owned();
    }
    if ns < SECOND {
        let (unit, digits) = match ns {
            ..1_000 => ("ns", 0),
            1_000..1_000_000 => ("µs", 3),
            _ => ("ms", 6),
        };
        let (fraction, whole) = fraction(ns, digits);
        return format!("{whole}{fraction}{unit}");
    }
    let (fraction, seconds) = fraction(ns, 9);
    let (minutes, hours) = (seconds / 60, seconds / 3600);
    let seconds = format!("{}{fraction}s", seconds % 60);
    match (hours, minutes) {
        (0, 0) => seconds,
        (0, minutes) => format!("{minutes}m{seconds}"),
        (hours, minutes) => format!("{hours}h{}m{seconds}", minutes % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Go 1.19 prints (Docker 20.10.24's BuildKit wrote these in image histories).
    #[test]
    fn strings_are_quoted_as_go_quotes_them() {
        let list = |items: &[&str]| {
            quoted_list(&items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
        };
        assert_eq!(
            list(&["a\"b", "c\\d", "tab\there", "é ü", "nl\nx"]),
            r#"["a\"b" "c\\d" "tab\there" "é ü" "nl\nx"]"#
        );
        assert_eq!(list(&["é", "\u{1}"]), r#"["é" "\x01"]"#);
        // As Docker 20.10.24 wrote `CMD ["\u007f\u0085…", "\u00a0…"]`.
        assert_eq!(
            quote("\u{7f}\u{85}\u{feff}\u{1f600}"),
            r#""\x7f\u0085\ufeff😀""#
        );
        assert_eq!(
            quote("\u{a0}\u{ad}\u{e000}\u{2028}\u{3000}x"),
            r#""\u00a0\u00ad\ue000\u2028\u3000x""#
        );
        assert_eq!(quote("it's"), r#""it's""#);
        assert_eq!(
            plain_list(&["/bin/sh".into(), "-ec".into()]),
            "[/bin/sh -ec]"
        );
    }

    #[test]
    fn integers_are_quoted_as_rune_literals() {
        assert_eq!(quote_rune(0), r"'\x00'");
        assert_eq!(quote_rune(3), r"'\x03'");
        assert_eq!(quote_rune(10), r"'\n'");
        assert_eq!(quote_rune(39), r"'\''");
        assert_eq!(quote_rune(34), "'\"'");
        assert_eq!(quote_rune(65), "'A'");
        assert_eq!(quote_rune(0xd800), "'\u{fffd}'");
    }

    #[test]
    fn durations_are_written_as_go_writes_them() {
        let s = 1_000_000_000;
        for (ns, text) in [
            (0, "0s"),
            (100, "100ns"),
            (250_000, "250µs"),
            (1_500_000, "1.5ms"),
            (1_500_000_000, "1.5s"),
            (5 * s, "5s"),
            (90 * s, "1m30s"),
            (60 * s + s / 2, "1m0.5s"),
            (3600 * s, "1h0m0s"),
            (3 * 3600 * s + 60 * s, "3h1m0s"),
            (100 * 3600 * s + 1, "100h0m0.000000001s"),
        ] {
            assert_eq!(duration(ns), text, "{ns}ns");
        }
    }
}
