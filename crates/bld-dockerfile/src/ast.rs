//! The syntax tree: one [`Node`] per instruction, shaped as BuildKit's `parser.Node` so that
//! [`Node::dump`] renders BuildKit's S-expression format.

mod dump;

use std::fmt;

use crate::error::Position;

pub use dump::go_quote;

/// A Dockerfile instruction keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Keyword {
    /// `FROM`
    From,
    /// `RUN`
    Run,
    /// `CMD`
    Cmd,
    /// `LABEL`
    Label,
    /// `MAINTAINER`
    Maintainer,
    /// `EXPOSE`
    Expose,
    /// `ENV`
    Env,
    /// `ADD`
    Add,
    /// `COPY`
    Copy,
    /// `ENTRYPOINT`
    Entrypoint,
    /// `VOLUME`
    Volume,
    /// `USER`
    User,
    /// `WORKDIR`
    Workdir,
    /// `ARG`
    Arg,
    /// `ONBUILD`
    Onbuild,
    /// `STOPSIGNAL`
    StopSignal,
    /// `HEALTHCHECK`
    Healthcheck,
    /// `SHELL`
    Shell,
}

impl Keyword {
    /// Every keyword, in the order of the Dockerfile reference.
    pub const ALL: [Keyword; 18] = [
        Keyword::From,
        Keyword::Run,
        Keyword::Cmd,
        Keyword::Label,
        Keyword::Maintainer,
        Keyword::Expose,
        Keyword::Env,
        Keyword::Add,
        Keyword::Copy,
        Keyword::Entrypoint,
        Keyword::Volume,
        Keyword::User,
        Keyword::Workdir,
        Keyword::Arg,
        Keyword::Onbuild,
        Keyword::StopSignal,
        Keyword::Healthcheck,
        Keyword::Shell,
    ];

    /// The keywords as a comma-separated list, for error messages.
    pub const ALL_NAMES: &'static str = "FROM, RUN, CMD, LABEL, MAINTAINER, EXPOSE, ENV, ADD, \
        COPY, ENTRYPOINT, VOLUME, USER, WORKDIR, ARG, ONBUILD, STOPSIGNAL, HEALTHCHECK, SHELL";

    /// The keyword in upper case, as conventionally written.
    pub fn name(self) -> &'static str {
        match self {
            Keyword::From => "FROM",
            Keyword::Run => "RUN",
            Keyword::Cmd => "CMD",
            Keyword::Label => "LABEL",
            Keyword::Maintainer => "MAINTAINER",
            Keyword::Expose => "EXPOSE",
            Keyword::Env => "ENV",
            Keyword::Add => "ADD",
            Keyword::Copy => "COPY",
            Keyword::Entrypoint => "ENTRYPOINT",
            Keyword::Volume => "VOLUME",
            Keyword::User => "USER",
            Keyword::Workdir => "WORKDIR",
            Keyword::Arg => "ARG",
            Keyword::Onbuild => "ONBUILD",
            Keyword::StopSignal => "STOPSIGNAL",
            Keyword::Healthcheck => "HEALTHCHECK",
            Keyword::Shell => "SHELL",
        }
    }

    /// The keyword for `word`, in any case.
    pub fn parse(word: &str) -> Option<Keyword> {
        Keyword::ALL
            .into_iter()
            .find(|keyword| keyword.name().eq_ignore_ascii_case(word))
    }

    /// The keyword closest in spelling to `word`, if it is close enough to suggest.
    pub fn suggest(word: &str) -> Option<Keyword> {
        let upper = word.to_ascii_uppercase();
        Keyword::ALL
            .into_iter()
            .map(|keyword| (edit_distance(&upper, keyword.name()), keyword))
            .filter(|(distance, keyword)| *distance <= 2 && distance * 2 <= keyword.name().len())
            .min_by_key(|(distance, _)| *distance)
            .map(|(_, keyword)| keyword)
    }

    /// Whether the instruction may carry heredocs (`RUN`, `COPY`, `ADD`).
    pub fn takes_heredocs(self) -> bool {
        matches!(self, Keyword::Run | Keyword::Copy | Keyword::Add)
    }
}

impl fmt::Display for Keyword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Levenshtein distance between two short words.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// A here-document attached to a `RUN`, `COPY` or `ADD` instruction (`<<EOF ... EOF`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word, quotes removed (`EOF` for `<<"EOF"`).
    pub name: String,
    /// The file descriptor written before `<<` (`2<<EOF`), or 0.
    pub file_descriptor: u32,
    /// Whether variables in the content are expanded (the delimiter was not quoted).
    pub expand: bool,
    /// Whether leading tabs are stripped from each line (`<<-EOF`).
    pub chomp: bool,
    /// The lines between the marker and the delimiter, line endings kept.
    pub content: String,
}

impl Heredoc {
    /// The content with leading tabs removed from every line when [`Heredoc::chomp`] is set.
    pub fn chomped_content(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        self.content
            .split_inclusive('\n')
            .map(|line| line.trim_start_matches('\t'))
            .collect()
    }
}

/// Maps byte offsets of a logical line (continuations joined) back to file positions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct SourceMap {
    /// `(offset in the logical line, line, column of that offset)`, in offset order.
    segments: Vec<(usize, usize, usize)>,
}

impl SourceMap {
    pub(crate) fn push_segment(&mut self, offset: usize, line: usize, column: usize) {
        self.segments.push((offset, line, column));
    }

    /// The map of `text[base..]`, for an instruction nested in another (ONBUILD).
    pub(crate) fn shifted(&self, text: &str, base: usize) -> SourceMap {
        let start = self.position(text, base);
        let mut segments = vec![(0, start.line, start.column)];
        segments.extend(
            self.segments
                .iter()
                .filter(|(offset, _, _)| *offset > base)
                .map(|&(offset, line, column)| (offset - base, line, column)),
        );
        SourceMap { segments }
    }

    /// The file position of byte `offset` of `text`, the logical line this map describes.
    pub(crate) fn position(&self, text: &str, offset: usize) -> Position {
        let segment = self
            .segments
            .iter()
            .rev()
            .find(|(start, _, _)| *start <= offset);
        match segment {
            Some(&(start, line, column)) => {
                let end = offset.min(text.len());
                let chars = text
                    .get(start..end)
                    .map_or(0, |slice| slice.chars().count());
                Position::new(line, column + chars)
            }
            None => Position::new(1, 1),
        }
    }
}

/// One instruction as parsed, before any checking of its arguments or flags.
///
/// The fields follow BuildKit's `parser.Node`: `args` are the values BuildKit chains after
/// the instruction (for `ENV` and `LABEL` they come in threes: key, value and `"="` or `""`
/// for the legacy `KEY value` form; for `HEALTHCHECK` the first is the type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The instruction.
    pub keyword: Keyword,
    /// The flags (`--name=value`) given before the arguments, as written.
    pub flags: Vec<String>,
    /// The arguments, as described on [`Node`].
    pub args: Vec<String>,
    /// For `ONBUILD`, the instruction it wraps.
    pub trigger: Option<Box<Node>>,
    /// Whether the arguments were given in JSON (exec) form.
    pub json: bool,
    /// Here-documents attached to the instruction, in order.
    pub heredocs: Vec<Heredoc>,
    /// The instruction's text with continuations joined (without heredoc bodies).
    pub original: String,
    /// 1-based line where the instruction starts.
    pub start_line: usize,
    /// 1-based line where it ends (including continuation lines and heredoc bodies).
    pub end_line: usize,
    /// The comment lines directly before the instruction, `#` and surrounding space removed.
    pub comments: Vec<String>,
    pub(crate) source_map: SourceMap,
    pub(crate) keyword_offset: usize,
    pub(crate) flag_offsets: Vec<usize>,
    pub(crate) args_offset: usize,
    pub(crate) escape: char,
}

impl Node {
    /// BuildKit's `Node.Dump()` of this instruction, without the surrounding parentheses:
    /// `from "ubuntu"`, `copy ["--from=builder"] "a" "b"`, `onbuild (run "echo")`.
    pub fn dump(&self) -> String {
        dump::dump_node(self)
    }

    /// Where the instruction keyword starts.
    pub fn position(&self) -> Position {
        self.position_of(self.keyword_offset)
    }

    /// Where the `index`th flag starts (the keyword's position if there is no such flag).
    pub fn flag_position(&self, index: usize) -> Position {
        let offset = self
            .flag_offsets
            .get(index)
            .copied()
            .unwrap_or(self.keyword_offset);
        self.position_of(offset)
    }

    /// Where the arguments start.
    pub fn arguments_position(&self) -> Position {
        self.position_of(self.args_offset)
    }

    /// A lexer for this instruction's words, with the file's escape character.
    pub fn shell_lex(&self) -> crate::shell::ShellLex {
        crate::shell::ShellLex::new(self.escape)
    }

    /// The position of byte `offset` of [`Node::original`].
    pub fn position_of(&self, offset: usize) -> Position {
        self.source_map.position(&self.original, offset)
    }
}

/// A parser directive from the top of the file (`# syntax=...`, `# escape=...`,
/// `# check=...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The directive's name, lower-cased.
    pub name: String,
    /// Its value, surrounding space removed.
    pub value: String,
    /// 1-based line of the directive.
    pub line: usize,
}

/// A non-fatal finding of the parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// 1-based line of the instruction concerned.
    pub line: usize,
    /// What was found.
    pub message: String,
}

/// A parsed Dockerfile: its directives and its instructions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The parser directives found at the top of the file.
    pub directives: Vec<Directive>,
    /// The escape character: `\` unless `# escape=` set `` ` ``.
    pub escape: char,
    /// The instructions in order.
    pub nodes: Vec<Node>,
    /// Non-fatal findings, such as empty lines inside a continuation.
    pub warnings: Vec<Warning>,
    /// The number of lines in the file.
    pub line_count: usize,
}

impl Dockerfile {
    /// The value of the directive `name` (`"syntax"`, `"escape"`, `"check"`), if given.
    pub fn directive(&self, name: &str) -> Option<&str> {
        self.directives
            .iter()
            .find(|directive| directive.name.eq_ignore_ascii_case(name))
            .map(|directive| directive.value.as_str())
    }

    /// The whole tree in BuildKit's dump format: one `(instruction ...)` line per node.
    pub fn dump(&self) -> String {
        self.nodes
            .iter()
            .map(|node| format!("({})\n", node.dump()))
            .collect()
    }

    /// A lexer for expanding this file's words, using its escape character.
    pub fn shell_lex(&self) -> crate::shell::ShellLex {
        crate::shell::ShellLex::new(self.escape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_parse_in_any_case_and_suggest() {
        assert_eq!(Keyword::parse("from"), Some(Keyword::From));
        assert_eq!(Keyword::parse("StopSignal"), Some(Keyword::StopSignal));
        assert_eq!(Keyword::parse("FORM"), None);
        assert_eq!(Keyword::suggest("FORM"), Some(Keyword::From));
        assert_eq!(Keyword::suggest("COPPY"), Some(Keyword::Copy));
        assert_eq!(Keyword::suggest("XYZZY"), None);
    }

    #[test]
    fn chomping_strips_leading_tabs() {
        let heredoc = Heredoc {
            name: "EOF".into(),
            file_descriptor: 0,
            expand: true,
            chomp: true,
            content: "\t\tone\n\ttwo\n  three\n".into(),
        };
        assert_eq!(heredoc.chomped_content(), "one\ntwo\n  three\n");
    }
}
