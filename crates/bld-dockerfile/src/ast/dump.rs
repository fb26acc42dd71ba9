//! BuildKit's S-expression dump of a node, with Go's string quoting.

use std::fmt::Write as _;

use super::Node;

/// Renders one node as BuildKit's `Node.Dump()` does.
pub(super) fn dump_node(node: &Node) -> String {
    let mut out = node.keyword.name().to_ascii_lowercase();
    if !node.flags.is_empty() {
        let flags: Vec<String> = node.flags.iter().map(|flag| go_quote(flag)).collect();
        let _ = write!(out, " [{}]", flags.join(" "));
    }
    if let Some(trigger) = &node.trigger {
        let _ = write!(out, " ({})", dump_node(trigger));
    }
    for arg in &node.args {
        out.push(' ');
        out.push_str(&go_quote(arg));
    }
    out.trim().to_owned()
}

/// Quotes `text` as Go's `strconv.Quote` does: a double-quoted string with `\"`, `\\`, the
/// C escapes for control characters, `\xHH` for other ASCII controls and `\uHHHH` /
/// `\UHHHHHHHH` for non-printable characters; printable Unicode is kept as is.
pub fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            _ if is_go_printable(ch) => out.push(ch),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            _ if (ch as u32) < 0x20 || ch == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", ch as u32);
            }
            _ if (ch as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", ch as u32);
            }
            _ => {
                let _ = write!(out, "\\U{:08x}", ch as u32);
            }
        }
    }
    out.push('"');
    out
}

/// An approximation of Go's `unicode.IsPrint`: everything but controls, spaces other than
/// U+0020, format characters, private-use characters and the non-characters U+FFFE/U+FFFF.
fn is_go_printable(ch: char) -> bool {
    if ch == ' ' {
        return true;
    }
    if ch.is_control() || ch.is_whitespace() {
        return false;
    }
    let code = ch as u32;
    let format_or_private = matches!(
        code,
        0xAD | 0x600..=0x605
            | 0x61C
            | 0x6DD
            | 0x70F
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xE000..=0xF8FF
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0xFFFE..=0xFFFF
            | 0x110BD
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
            | 0xF0000..=0x10FFFF
    );
    !format_or_private
}

#[cfg(test)]
mod tests {
    use super::go_quote;

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("a \"b\" \\c"), r#""a \"b\" \\c""#);
        assert_eq!(
            go_quote("\u{0}\u{8}\u{c}\n\r\t\u{1b}"),
            r#""\x00\b\f\n\r\t\x1b""#
        );
        assert_eq!(go_quote("♥☃ 안녕"), "\"♥☃ 안녕\"");
        assert_eq!(go_quote("\u{a0}\u{feff}"), r#""\u00a0\ufeff""#);
    }
}
