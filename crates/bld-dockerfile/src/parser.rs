//! Turns Dockerfile text into [`Dockerfile`]: physical lines are joined at continuations,
//! comments and parser directives are handled, each logical line becomes a [`Node`] and
//! heredoc bodies are attached. The behaviour follows BuildKit's `parser.Parse`.

mod directives;
mod heredoc;
mod line_parsers;
mod split;

use crate::ast::{Dockerfile, Keyword, Node, SourceMap, Warning};
use crate::error::{DockerfileError, Position};

use directives::DirectiveScanner;

pub use heredoc::parse_heredoc_marker;

/// Parses Dockerfile text into its syntax tree.
///
/// This is BuildKit's parsing step: arguments are split per instruction as BuildKit does,
/// but flags are not checked yet (see [`crate::Instruction::from_node`]). Unknown
/// instructions, malformed directives, `ENV`/`LABEL` without values, JSON arrays holding
/// non-strings and unterminated heredocs are errors here.
pub fn parse(text: &str) -> Result<Dockerfile, DockerfileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut parser = Parser {
        lines: &lines,
        next: 0,
        directives: DirectiveScanner::default(),
        escape: '\\',
    };
    let mut nodes = Vec::new();
    let mut warnings = Vec::new();
    let mut comments: Vec<String> = Vec::new();

    while let Some(raw) = parser.next_line() {
        let line_number = parser.next;
        if let Some(comment) = comment_text(raw) {
            if comment.is_empty() {
                comments.clear();
            } else {
                comments.push(comment.to_owned());
            }
        }
        let content = trim_newline(raw);
        let token = content.trim_start();
        let leading_columns = content.len() - token.len();
        let leading_columns = content[..leading_columns].chars().count();
        if let Some(directive) = parser.directives.check(token, line_number)? {
            if directive.name == "escape" {
                parser.escape = directive.value.chars().next().unwrap_or('\\');
            }
            comments.pop();
        }
        let token = if is_comment(token) { "" } else { token };
        let (first, complete) = trim_continuation(token, parser.escape);
        if complete && first.is_empty() {
            continue;
        }

        let start_line = line_number;
        let mut logical = first.to_owned();
        let mut source_map = SourceMap::default();
        source_map.push_segment(0, line_number, leading_columns + 1);
        let has_empty_continuation =
            !complete && parser.join_continuations(&mut logical, &mut source_map);
        if has_empty_continuation {
            warnings.push(Warning {
                line: start_line,
                message: format!("empty continuation line found in: {logical}"),
            });
        }

        let mut node = node_from_line(&logical, source_map, parser.escape, false)?;
        if node_can_contain_heredoc(&node) && logical.contains("<<") {
            parser.read_heredocs(&mut node, &logical)?;
        }
        node.start_line = start_line;
        node.end_line = parser.next;
        if let Some(trigger) = node.trigger.as_mut() {
            trigger.start_line = start_line;
            trigger.end_line = parser.next;
        }
        node.comments = std::mem::take(&mut comments);
        nodes.push(node);
    }

    if nodes.is_empty() {
        return Err(DockerfileError::NoInstructions {
            at: Position::new(lines.len().max(1), 1),
        });
    }
    Ok(Dockerfile {
        directives: parser.directives.into_directives(),
        escape: parser.escape,
        nodes,
        warnings,
        line_count: lines.len(),
    })
}

struct Parser<'a> {
    lines: &'a [&'a str],
    /// Index of the next physical line, which is also the 1-based number of the last one read.
    next: usize,
    directives: DirectiveScanner,
    escape: char,
}

impl<'a> Parser<'a> {
    fn next_line(&mut self) -> Option<&'a str> {
        let line = self.lines.get(self.next).copied();
        if line.is_some() {
            self.next += 1;
        }
        line
    }

    /// Appends the continuation lines of an instruction to `logical` (comment lines skipped),
    /// mapping each piece to its line; returns whether an empty line was among them.
    fn join_continuations(&mut self, logical: &mut String, source_map: &mut SourceMap) -> bool {
        let mut has_empty_continuation = false;
        while let Some(raw) = self.next_line() {
            let content = trim_newline(raw);
            if is_comment(content) {
                continue;
            }
            if content.trim_start().is_empty() {
                has_empty_continuation = true;
                continue;
            }
            let (piece, done) = trim_continuation(content, self.escape);
            source_map.push_segment(logical.len(), self.next, 1);
            logical.push_str(piece);
            if done {
                break;
            }
        }
        has_empty_continuation
    }

    /// Reads the bodies of the heredocs named on `logical` from the following lines.
    fn read_heredocs(&mut self, node: &mut Node, logical: &str) -> Result<(), DockerfileError> {
        let markers = heredoc::heredocs_from_line(logical)
            .map_err(|error| error.located_at(node.arguments_position(), node.keyword))?;
        for (mut heredoc, marker_offset) in markers {
            let mut terminated = false;
            while let Some(raw) = self.next_line() {
                let mut candidate = trim_newline(raw);
                if heredoc.chomp {
                    candidate = candidate.trim_start_matches('\t');
                }
                if candidate == heredoc.name {
                    terminated = true;
                    break;
                }
                heredoc.content.push_str(raw);
            }
            if !terminated {
                return Err(DockerfileError::UnterminatedHeredoc {
                    at: node.position_of(marker_offset),
                    instruction: node.keyword.name(),
                    name: heredoc.name,
                });
            }
            // For ONBUILD the heredocs belong to the wrapped instruction.
            match node.trigger.as_mut() {
                Some(trigger) => trigger.heredocs.push(heredoc),
                None => node.heredocs.push(heredoc),
            }
        }
        Ok(())
    }
}

fn node_can_contain_heredoc(node: &Node) -> bool {
    let inner = match (&node.keyword, &node.trigger) {
        (Keyword::Onbuild, Some(trigger)) => trigger,
        _ => node,
    };
    inner.keyword.takes_heredocs() && !inner.json
}

/// Builds the node for one logical line (continuations already joined); `is_trigger` for the
/// instruction an `ONBUILD` wraps.
fn node_from_line(
    line: &str,
    source_map: SourceMap,
    escape: char,
    is_trigger: bool,
) -> Result<Node, DockerfileError> {
    let split = split::split_command(line);
    let keyword_position = source_map.position(line, split.keyword_offset);
    let Some(keyword) = Keyword::parse(split.keyword) else {
        return Err(DockerfileError::UnknownInstruction {
            at: keyword_position,
            found: split.keyword.to_owned(),
            suggestion: Keyword::suggest(split.keyword).map(Keyword::name),
        });
    };
    let arguments_position = source_map.position(line, split.args_offset);
    let mut trigger = None;
    let arguments = if keyword == Keyword::Onbuild {
        // An ONBUILD inside an ONBUILD is an error (reported when its node is checked), so
        // what it wraps is not parsed: `ONBUILD ONBUILD …` thousands deep would otherwise
        // recurse as deep, and overflow the stack.
        if !split.args.is_empty() && !is_trigger {
            let child_map = source_map.shifted(line, split.args_offset);
            trigger = Some(Box::new(node_from_line(
                split.args, child_map, escape, true,
            )?));
        }
        line_parsers::Arguments::default()
    } else {
        line_parsers::parse_arguments(keyword, split.args, escape, arguments_position)?
    };
    let (flags, flag_offsets) = split.flags.into_iter().unzip();
    Ok(Node {
        keyword,
        flags,
        args: arguments.args,
        trigger,
        json: arguments.json,
        heredocs: Vec::new(),
        original: line.to_owned(),
        start_line: keyword_position.line,
        end_line: keyword_position.line,
        comments: Vec::new(),
        source_map,
        keyword_offset: split.keyword_offset,
        flag_offsets,
        args_offset: split.args_offset,
        escape,
    })
}

/// The line without its trailing line-ending characters.
fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// For a comment line, its text after `#` with surrounding space removed.
fn comment_text(raw: &str) -> Option<&str> {
    let trimmed = trim_newline(raw).trim_start();
    trimmed.strip_prefix('#').map(str::trim)
}

/// Removes a trailing continuation (the escape character, then only spaces and tabs) unless
/// the escape character is itself escaped. Returns the text and whether the line is complete.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    let Some(before) = body.strip_suffix(escape) else {
        return (line, true);
    };
    if before.ends_with(escape) {
        (line, true)
    } else {
        (before, false)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn continuation_trimming() {
        assert_eq!(trim_continuation("echo a \\", '\\'), ("echo a ", false));
        assert_eq!(trim_continuation("echo a \\  \t", '\\'), ("echo a ", false));
        assert_eq!(trim_continuation("\\", '\\'), ("", false));
        assert_eq!(trim_continuation("a\\\\", '\\'), ("a\\\\", true));
        assert_eq!(trim_continuation("a `", '`'), ("a ", false));
        assert_eq!(trim_continuation("a \\", '`'), ("a \\", true));
    }
}
