//! The wildcard patterns of `${name#pattern}`, `${name%pattern}` and `${name/pattern/...}`:
//! `*` matches any run of characters, `?` one character, `\` escapes `*`, `?` and `\`
//! (and is dropped before `}` and `/`). Bracket expressions are not supported, as in BuildKit.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    AnyRun,
    AnyOne,
    Literal(char),
}

/// A parsed wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    tokens: Vec<Token>,
}

impl Glob {
    /// Parses `pattern`; the error says what was wrong.
    pub(crate) fn parse(pattern: &str) -> Result<Glob, String> {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(ch) = chars.next() {
            let token = match ch {
                '*' => Token::AnyRun,
                '?' => Token::AnyOne,
                '\\' => match chars.next() {
                    Some(escaped @ ('*' | '?' | '\\' | '}' | '/')) => Token::Literal(escaped),
                    Some(other) => {
                        return Err(format!(
                            "invalid escape `\\{other}`: expected `\\*`, `\\?` or `\\\\`"
                        ));
                    }
                    None => {
                        return Err("escape at the end: expected a character after `\\`".to_owned());
                    }
                },
                other => Token::Literal(other),
            };
            tokens.push(token);
        }
        Ok(Glob { tokens })
    }

    /// Whether the whole of `text` matches.
    fn matches(&self, text: &[char]) -> bool {
        // Classic wildcard matching with backtracking to the last `*`.
        let tokens = &self.tokens;
        let (mut t, mut s) = (0, 0);
        let mut resume: Option<(usize, usize)> = None;
        while s < text.len() {
            match tokens.get(t) {
                Some(Token::AnyRun) => {
                    resume = Some((t, s));
                    t += 1;
                }
                Some(Token::AnyOne) => {
                    t += 1;
                    s += 1;
                }
                Some(Token::Literal(ch)) if *ch == text[s] => {
                    t += 1;
                    s += 1;
                }
                _ => match resume {
                    Some((star, start)) => {
                        t = star + 1;
                        s = start + 1;
                        resume = Some((star, start + 1));
                    }
                    None => return false,
                },
            }
        }
        tokens[t..].iter().all(|token| *token == Token::AnyRun)
    }

    /// `value` without its shortest (or longest) prefix that matches.
    pub(crate) fn remove_prefix(&self, value: &str, longest: bool) -> String {
        let chars: Vec<char> = value.chars().collect();
        let lengths: Box<dyn Iterator<Item = usize>> = if longest {
            Box::new((0..=chars.len()).rev())
        } else {
            Box::new(0..=chars.len())
        };
        for length in lengths {
            if self.matches(&chars[..length]) {
                return chars[length..].iter().collect();
            }
        }
        value.to_owned()
    }

    /// `value` without its shortest (or longest) suffix that matches.
    pub(crate) fn remove_suffix(&self, value: &str, longest: bool) -> String {
        let chars: Vec<char> = value.chars().collect();
        let count = chars.len();
        let lengths: Box<dyn Iterator<Item = usize>> = if longest {
            Box::new((0..=count).rev())
        } else {
            Box::new(0..=count)
        };
        for length in lengths {
            if self.matches(&chars[count - length..]) {
                return chars[..count - length].iter().collect();
            }
        }
        value.to_owned()
    }

    /// The leftmost match at or after `from`, longest at that start: `(start, end)`.
    fn find(&self, chars: &[char], from: usize) -> Option<(usize, usize)> {
        (from..=chars.len()).find_map(|start| {
            (start..=chars.len())
                .rev()
                .find(|end| self.matches(&chars[start..*end]))
                .map(|end| (start, end))
        })
    }

    /// `value` with the first (or every) match replaced by `replacement`.
    pub(crate) fn replace(&self, value: &str, replacement: &str, all: bool) -> String {
        let chars: Vec<char> = value.chars().collect();
        let mut out = String::new();
        let mut pos = 0;
        let mut previous_end: Option<usize> = None;
        while pos <= chars.len() {
            let Some((start, end)) = self.find(&chars, pos) else {
                break;
            };
            out.extend(&chars[pos..start]);
            if start == end {
                // An empty match right after a match is skipped, as Go's regexp does.
                if previous_end != Some(start) {
                    out.push_str(replacement);
                }
                if let Some(ch) = chars.get(start) {
                    out.push(*ch);
                }
                pos = start + 1;
                previous_end = None;
            } else {
                out.push_str(replacement);
                pos = end;
                previous_end = Some(end);
            }
            if !all {
                break;
            }
        }
        if pos < chars.len() {
            out.extend(&chars[pos..]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(pattern: &str) -> Glob {
        Glob::parse(pattern).expect("pattern parses")
    }

    #[test]
    fn prefixes_and_suffixes() {
        assert_eq!(glob("*x*y").remove_prefix("xxyy", false), "y");
        assert_eq!(glob("*").remove_prefix("xxyy", false), "xxyy");
        assert_eq!(glob("*x").remove_prefix("xxyy", true), "yy");
        assert_eq!(glob("?\\?").remove_prefix("???y", false), "?y");
        assert_eq!(glob("\\**").remove_suffix("xx**", true), "xx");
        assert_eq!(glob("\\**\\*").remove_suffix("a***yy*", true), "a");
        assert_eq!(glob("x").remove_suffix("xxyy", false), "xxyy");
    }

    #[test]
    fn replacements() {
        assert_eq!(
            glob("\\*/").replace("/foo*/*/*.txt", ".", false),
            "/foo.*/*.txt"
        );
        assert_eq!(
            glob("\\*/").replace("/foo*/*/*.txt", ".", true),
            "/foo..*.txt"
        );
        assert_eq!(
            glob("/?/").replace("/a/foo/b/c.txt", "/", true),
            "/foo/c.txt"
        );
        assert_eq!(glob("").replace("xxyy", "ww", false), "wwxxyy");
        assert_eq!(glob("").replace("xxyy", "", true), "xxyy");
    }

    #[test]
    fn bad_escapes() {
        assert!(Glob::parse("\\x").is_err());
        assert!(Glob::parse("\\").is_err());
    }
}
