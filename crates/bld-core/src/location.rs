//! [`Location`]: where in a text file an error is, shown as every bld error about a file is
//! shown: `file:line:column: message`, then the line with a marker under the offending text.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A place in a text file (a Dockerfile, a BUILD file): the file as messages name it, a
/// 1-based line and column, and the line's text for the snippet under the message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Location {
    /// The file, as messages name it (`app/Dockerfile`).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The text of that line (without its line break).
    pub text: String,
    /// How many characters the marker covers (at least one).
    pub width: usize,
}

impl Location {
    /// The place `line:column` of `source` (the whole file's text), marking `width`
    /// characters; the marker is cut at the end of the line.
    pub fn in_text(
        file: impl Into<String>,
        source: &str,
        line: usize,
        column: usize,
        width: usize,
    ) -> Location {
        let text = source
            .lines()
            .nth(line.saturating_sub(1))
            .unwrap_or_default()
            .to_owned();
        Location {
            file: file.into(),
            line: line.max(1),
            column: column.max(1),
            text,
            width: width.max(1),
        }
    }

    /// The place `line:column` of `source`, marking from the column to the end of its line.
    pub fn to_line_end(
        file: impl Into<String>,
        source: &str,
        line: usize,
        column: usize,
    ) -> Location {
        let mut location = Location::in_text(file, source, line, column, 1);
        let rest = location
            .text
            .chars()
            .count()
            .saturating_sub(column.max(1) - 1);
        location.width = rest.max(1);
        location
    }

    /// The line and its marker, as rustc and starlark show them:
    ///
    /// ```text
    ///   |
    /// 3 | COPY missing.txt /app/
    ///   |      ^^^^^^^^^^^
    /// ```
    pub fn snippet(&self) -> String {
        let number = self.line.to_string();
        let gutter = " ".repeat(number.len());
        // Tabs keep their width in the marker line, so the marker stays under the text.
        let lead: String = self
            .text
            .chars()
            .take(self.column - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let available = self.text.chars().count().saturating_sub(self.column - 1);
        let width = self.width.min(available).max(1);
        format!(
            "{gutter} |\n{number} | {}\n{gutter} | {lead}{}\n",
            self.text,
            "^".repeat(width)
        )
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_file_line_and_column_and_marks_the_text() {
        let source = "FROM scratch\nCOPY  missing.txt /app/\n";
        let at = Location::in_text("app/Dockerfile", source, 2, 7, 11);
        assert_eq!(at.to_string(), "app/Dockerfile:2:7");
        assert_eq!(
            at.snippet(),
            "  |\n2 | COPY  missing.txt /app/\n  |       ^^^^^^^^^^^\n"
        );
    }

    #[test]
    fn marker_stays_on_the_line() {
        let at = Location::in_text("Dockerfile", "RUN x", 1, 5, 40);
        assert_eq!(at.snippet(), "  |\n1 | RUN x\n  |     ^\n");
        let whole = Location::to_line_end("Dockerfile", "\tRUN make", 1, 2);
        assert_eq!(whole.snippet(), "  |\n1 | \tRUN make\n  | \t^^^^^^^^\n");
        let past_end = Location::in_text("Dockerfile", "RUN x", 9, 1, 1);
        assert_eq!(past_end.text, "");
        assert_eq!(past_end.snippet(), "  |\n9 | \n  | ^\n");
    }
}
