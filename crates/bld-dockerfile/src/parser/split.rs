//! Splits a logical line into its instruction word, its `--flags` and the rest.

/// A logical line taken apart. Offsets are byte offsets into the line.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct SplitLine<'a> {
    pub(super) keyword: &'a str,
    pub(super) keyword_offset: usize,
    /// Each flag with quotes and escapes processed, and its offset.
    pub(super) flags: Vec<(String, usize)>,
    /// The arguments after the flags, surrounding whitespace removed.
    pub(super) args: &'a str,
    pub(super) args_offset: usize,
}

/// The separators between the instruction word and the rest (BuildKit's `[\t\v\f\r ]+`).
pub(super) fn is_token_space(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

pub(super) fn split_command(line: &str) -> SplitLine<'_> {
    let keyword_offset = line.len() - line.trim_start().len();
    let trimmed_end = keyword_offset + line[keyword_offset..].trim_end().len();
    let body = &line[keyword_offset..trimmed_end];
    let keyword_len = body.find(is_token_space).unwrap_or(body.len());
    let keyword = &body[..keyword_len];
    let after_keyword = &body[keyword_len..];
    let rest = after_keyword.trim_start_matches(is_token_space);
    let rest_offset = keyword_offset + keyword_len + (after_keyword.len() - rest.len());

    let (args_start, flags) = extract_flags(rest);
    let remaining = &rest[args_start..];
    let args = remaining.trim();
    let args_offset = if args.is_empty() {
        trimmed_end
    } else {
        rest_offset + args_start + (remaining.len() - remaining.trim_start().len())
    };
    SplitLine {
        keyword,
        keyword_offset,
        flags: flags
            .into_iter()
            .map(|(flag, offset)| (flag, rest_offset + offset))
            .collect(),
        args,
        args_offset,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Spaces,
    Word,
    Quote(char),
}

/// Reads leading words that start with `--` as flags. Quotes group and are removed, a
/// backslash takes the next character literally, and a lone `--` ends the flags. Returns the
/// offset where the arguments start and the flags with their offsets.
fn extract_flags(line: &str) -> (usize, Vec<(String, usize)>) {
    let mut flags = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut word_start = 0;
    let mut blank_ok = false;
    let mut chars = line.char_indices().peekable();
    while let Some((pos, ch)) = chars.next() {
        match phase {
            Phase::Spaces => {
                if ch.is_whitespace() {
                    continue;
                }
                if !line[pos..].starts_with("--") {
                    return (pos, flags);
                }
                phase = Phase::Word;
                word_start = pos;
                word.push(ch);
            }
            Phase::Word => {
                if ch.is_whitespace() {
                    if word == "--" {
                        return (pos, flags);
                    }
                    if blank_ok || !word.is_empty() {
                        flags.push((std::mem::take(&mut word), word_start));
                    }
                    word.clear();
                    blank_ok = false;
                    phase = Phase::Spaces;
                } else if ch == '\'' || ch == '"' {
                    blank_ok = true;
                    phase = Phase::Quote(ch);
                } else if ch == '\\' {
                    // A backslash at the very end is dropped.
                    if let Some((_, escaped)) = chars.next() {
                        word.push(escaped);
                    }
                } else {
                    word.push(ch);
                }
            }
            Phase::Quote(quote) => {
                if ch == quote {
                    phase = Phase::Word;
                } else if ch == '\\' {
                    match chars.next() {
                        Some((_, escaped)) => word.push(escaped),
                        None => phase = Phase::Word,
                    }
                } else {
                    word.push(ch);
                }
            }
        }
    }
    if phase != Phase::Spaces && word != "--" && (blank_ok || !word.is_empty()) {
        flags.push((word, word_start));
    }
    (line.len(), flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_keyword_flags_and_arguments() {
        let split = split_command("  COPY --from=build --chown=\"a b\" src /dst ");
        assert_eq!(split.keyword, "COPY");
        assert_eq!(split.keyword_offset, 2);
        assert_eq!(
            split.flags,
            vec![
                ("--from=build".to_owned(), 7),
                ("--chown=a b".to_owned(), 20)
            ]
        );
        assert_eq!(split.args, "src /dst");
        assert_eq!(split.args_offset, 34);
    }

    #[test]
    fn double_dash_ends_flags() {
        let split = split_command("COPY --doit=true -- --foo /tmp/");
        assert_eq!(split.flags, vec![("--doit=true".to_owned(), 5)]);
        assert_eq!(split.args, "--foo /tmp/");
        let split = split_command("CMD --doit -- [ ]");
        assert_eq!(split.flags, vec![("--doit".to_owned(), 4)]);
        assert_eq!(split.args, "[ ]");
    }

    #[test]
    fn instruction_alone() {
        let split = split_command("HEALTHCHECK");
        assert_eq!(split.keyword, "HEALTHCHECK");
        assert_eq!(split.args, "");
        assert_eq!(split.args_offset, 11);
    }
}
