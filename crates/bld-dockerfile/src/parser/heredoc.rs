//! Finding heredoc markers (`<<EOF`, `<<-EOF`, `2<<"EOF"`) on an instruction line.

use crate::ast::Heredoc;
use crate::error::DockerfileError;
use crate::shell::{EmptyEnvironment, ShellLex};

/// Reads a heredoc marker word: optional file-descriptor digits, `<<`, an optional `-`
/// (strip leading tabs) and the delimiter, which may be quoted in part or whole (then the
/// content is not expanded). Returns `None` when `word` is not a marker. The returned
/// heredoc has no content.
pub fn parse_heredoc_marker(word: &str) -> Result<Option<Heredoc>, DockerfileError> {
    let digits_end = word
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(word.len());
    let Some(after) = word[digits_end..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, delimiter) = match after.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, after),
    };
    if delimiter.is_empty() || delimiter.contains('<') {
        return Ok(None);
    }
    let file_descriptor = word[..digits_end].parse().unwrap_or(0);

    let mut lex = ShellLex::new('\\');
    lex.skip_unset_env = true;
    let words = lex.process_words(delimiter, &EmptyEnvironment)?;
    let [name] = words.as_slice() else {
        return Ok(None);
    };
    lex.raw_quotes = true;
    let raw_words = lex.process_words(delimiter, &EmptyEnvironment)?;
    let [raw_name] = raw_words.as_slice() else {
        return Ok(None);
    };
    let quote_count = |text: &str| text.chars().filter(|c| matches!(c, '\'' | '"')).count();
    Ok(Some(Heredoc {
        name: name.clone(),
        file_descriptor,
        expand: quote_count(name) == quote_count(raw_name),
        chomp,
        content: String::new(),
    }))
}

/// The heredocs named on `line`, each with the byte offset of its marker in `line`.
pub(super) fn heredocs_from_line(line: &str) -> Result<Vec<(Heredoc, usize)>, DockerfileError> {
    let mut lex = ShellLex::new('\\');
    lex.raw_quotes = true;
    lex.raw_escapes = true;
    lex.skip_unset_env = true;
    // A line that does not lex (an unterminated quote) names no heredocs, as in BuildKit.
    let words = lex
        .process_words(line, &EmptyEnvironment)
        .unwrap_or_default();
    let mut heredocs = Vec::new();
    let mut search_from = 0;
    for word in words {
        let Some(heredoc) = parse_heredoc_marker(&word)? else {
            continue;
        };
        let offset = match line
            .get(search_from..)
            .and_then(|rest| rest.find(word.as_str()))
        {
            Some(found) => search_from + found,
            None => line[search_from..]
                .find("<<")
                .map_or(search_from, |found| search_from + found),
        };
        search_from = offset + 2;
        heredocs.push((heredoc, offset));
    }
    Ok(heredocs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(word: &str) -> Heredoc {
        parse_heredoc_marker(word)
            .expect("lexes")
            .expect("is a marker")
    }

    #[test]
    fn markers() {
        let plain = marker("<<EOF");
        assert_eq!(
            (plain.name.as_str(), plain.expand, plain.chomp),
            ("EOF", true, false)
        );
        let quoted = marker("<<\"EOF\"");
        assert_eq!((quoted.name.as_str(), quoted.expand), ("EOF", false));
        let single = marker("<<-'END'");
        assert_eq!(
            (single.name.as_str(), single.expand, single.chomp),
            ("END", false, true)
        );
        assert_eq!(marker("2<<EOF").file_descriptor, 2);
        assert!(parse_heredoc_marker("<<").expect("ok").is_none());
        assert!(parse_heredoc_marker("a<<b").expect("ok").is_none());
        assert!(parse_heredoc_marker("<<<EOF").expect("ok").is_none());
    }

    #[test]
    fn several_markers_on_a_line() {
        let found = heredocs_from_line("RUN cat <<A - <<-\"B\" > x").expect("ok");
        let names: Vec<(&str, usize)> = found
            .iter()
            .map(|(heredoc, offset)| (heredoc.name.as_str(), *offset))
            .collect();
        assert_eq!(names, vec![("A", 8), ("B", 14)]);
    }
}
