//! The source scan run before parsing: text that would make starlark-rust's parser or
//! compiler recurse too deeply is refused with the place it goes too deep.

use super::{Limit, MAX_EXPRESSION_DEPTH, MAX_NESTING};

/// Refuses source text that would make starlark-rust's parser or compiler recurse too deeply:
/// brackets or blocks nested deeper than [`MAX_NESTING`], expressions deeper than
/// [`MAX_EXPRESSION_DEPTH`], and `*=`. A cheap scan that skips comments and string literals
/// (but looks into f-strings, whose `{…}` hold expressions); `display` names the file.
pub(crate) fn check_source(display: &str, text: &str) -> Result<(), (String, Limit)> {
    Scanner {
        display,
        text: text.as_bytes(),
        pos: 0,
        enclosing: Vec::new(),
        enclosing_depth: 0,
        depth: 0,
        indents: vec![0],
    }
    .run()
}

struct Scanner<'a> {
    display: &'a str,
    text: &'a [u8],
    pos: usize,
    /// The expression depth reached in each enclosing bracket when it opened.
    enclosing: Vec<usize>,
    /// Their sum.
    enclosing_depth: usize,
    /// The depth of the current expression within the innermost bracket.
    depth: usize,
    /// The indentation widths of the open blocks.
    indents: Vec<usize>,
}

const STRING_PREFIXES: &[&str] = &["r", "b", "f", "rb", "br", "fr", "rf"];
const OPERATOR_KEYWORDS: &[&str] = &["and", "or", "not", "in", "if", "else", "lambda", "is"];

impl Scanner<'_> {
    fn fail(&self, at: usize, limit: Limit) -> Result<(), (String, Limit)> {
        let before = &self.text[..at.min(self.text.len())];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count()
            + 1;
        Err((format!("{}:{line}:{column}", self.display), limit))
    }

    fn peek(&self, offset: usize) -> u8 {
        self.text.get(self.pos + offset).copied().unwrap_or(0)
    }

    /// One more level of expression depth at `at`.
    fn deeper(&mut self, at: usize) -> Result<(), (String, Limit)> {
        self.depth += 1;
        if self.enclosing_depth + self.depth > MAX_EXPRESSION_DEPTH {
            return self.fail(at, Limit::ExpressionDepth);
        }
        Ok(())
    }

    fn run(mut self) -> Result<(), (String, Limit)> {
        self.line_start()?;
        while self.pos < self.text.len() {
            self.token(None)?;
        }
        Ok(())
    }

    /// At the start of a line outside brackets: checks the indentation of a non-blank line.
    fn line_start(&mut self) -> Result<(), (String, Limit)> {
        let start = self.pos;
        while matches!(self.peek(0), b' ' | b'\t' | b'\x0c') {
            self.pos += 1;
        }
        if matches!(self.peek(0), b'\n' | b'\r' | b'#' | 0) {
            return Ok(());
        }
        let width = self.pos - start;
        while self.indents.last().is_some_and(|&w| w > width) {
            self.indents.pop();
        }
        if self.indents.last().is_some_and(|&w| w < width) {
            self.indents.push(width);
            if self.indents.len() - 1 > MAX_NESTING {
                return self.fail(self.pos, Limit::Blocks);
            }
        }
        Ok(())
    }

    /// Scans one token; inside an f-string, `quote` is its closing quote, and the token ends
    /// the string when it is that quote (returns `true`).
    fn token(&mut self, quote: Option<&[u8]>) -> Result<bool, (String, Limit)> {
        if let Some(quote) = quote
            && self.text[self.pos..].starts_with(quote)
        {
            self.pos += quote.len();
            return Ok(true);
        }
        let at = self.pos;
        let c = self.peek(0);
        match c {
            b'#' if quote.is_none() => {
                while !matches!(self.peek(0), b'\n' | 0) {
                    self.pos += 1;
                }
            }
            b'\\' => self.pos += 2,
            b'\n' => {
                self.pos += 1;
                if self.enclosing.is_empty() && quote.is_none() {
                    self.depth = 0;
                    self.line_start()?;
                }
            }
            b'\'' | b'"' => self.string(false)?,
            b'(' | b'[' | b'{' => self.open_bracket(at)?,
            b')' | b']' | b'}' => {
                self.pos += 1;
                if let Some(depth) = self.enclosing.pop() {
                    self.enclosing_depth -= depth;
                    self.depth = depth;
                }
            }
            b',' | b';' | b':' => {
                self.pos += 1;
                self.depth = 0;
            }
            b'0'..=b'9' => {
                while self.peek(0).is_ascii_alphanumeric() || matches!(self.peek(0), b'_' | b'.') {
                    self.pos += 1;
                }
            }
            b'.' => {
                self.pos += 1;
                self.deeper(at)?;
            }
            b'=' if self.peek(1) != b'=' => {
                self.pos += 1;
                self.depth = 0;
            }
            b'=' | b'+' | b'-' | b'*' | b'/' | b'%' | b'&' | b'|' | b'^' | b'~' | b'<' | b'>'
            | b'!' => self.operator(at, c)?,
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => self.word(at)?,
            _ => self.pos += 1,
        }
        Ok(false)
    }

    /// `(`, `[` or `{` at `at`: one more bracket, the expression inside starting afresh.
    fn open_bracket(&mut self, at: usize) -> Result<(), (String, Limit)> {
        self.pos += 1;
        self.deeper(at)?;
        if self.enclosing.len() >= MAX_NESTING {
            return self.fail(at, Limit::Brackets);
        }
        self.enclosing.push(self.depth);
        self.enclosing_depth += self.depth;
        self.depth = 0;
        Ok(())
    }

    /// An operator starting with `c` at `at`: an assignment (`+=`; `*=` refused) ends the
    /// expression, anything else makes it one deeper.
    fn operator(&mut self, at: usize, c: u8) -> Result<(), (String, Limit)> {
        let mut end = self.pos + 1;
        while end < self.text.len()
            && end - self.pos < 3
            && matches!(self.text[end], b'*' | b'/' | b'<' | b'>')
            && self.text[end] == c
        {
            end += 1;
        }
        let assigns = self.text.get(end) == Some(&b'=')
            && !matches!(&self.text[self.pos..end], b"<" | b">" | b"!" | b"=");
        if assigns {
            if &self.text[self.pos..end] == b"*" {
                return self.fail(at, Limit::MultiplyAssign);
            }
            self.pos = end + 1;
            self.depth = 0;
        } else {
            self.pos = end + usize::from(self.text.get(end) == Some(&b'='));
            self.deeper(at)?;
        }
        Ok(())
    }

    /// A name or keyword at `at`: a string prefix starts a string, an operator keyword makes
    /// the expression deeper, `for` starts a new one.
    fn word(&mut self, at: usize) -> Result<(), (String, Limit)> {
        while self.peek(0).is_ascii_alphanumeric() || self.peek(0) == b'_' || self.peek(0) >= 0x80 {
            self.pos += 1;
        }
        let word = String::from_utf8_lossy(&self.text[at..self.pos]);
        let word = word.as_ref();
        if matches!(self.peek(0), b'\'' | b'"')
            && STRING_PREFIXES.contains(&word.to_ascii_lowercase().as_str())
        {
            let lower = word.to_ascii_lowercase();
            self.string(lower.contains('f'))?;
        } else if OPERATOR_KEYWORDS.contains(&word) {
            self.deeper(at)?;
        } else if word == "for" {
            self.depth = 0;
        }
        Ok(())
    }

    /// A string literal at `pos` (its prefix already read). F-strings are scanned as code up to
    /// their closing quote, brackets and all, then the bracket state from before is restored.
    fn string(&mut self, formatted: bool) -> Result<(), (String, Limit)> {
        let c = self.peek(0);
        let triple = self.peek(1) == c && self.peek(2) == c;
        let quote: Vec<u8> = if triple { vec![c; 3] } else { vec![c] };
        self.pos += quote.len();
        if formatted {
            let enclosing = self.enclosing.clone();
            let (enclosing_depth, depth) = (self.enclosing_depth, self.depth);
            while self.pos < self.text.len() && !self.token(Some(&quote))? {}
            self.enclosing = enclosing;
            self.enclosing_depth = enclosing_depth;
            self.depth = depth;
            return Ok(());
        }
        while self.pos < self.text.len() {
            if self.text[self.pos..].starts_with(&quote) {
                self.pos += quote.len();
                return Ok(());
            }
            match self.peek(0) {
                b'\\' => self.pos += 2,
                b'\n' if !triple => return Ok(()),
                _ => self.pos += 1,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(text: &str) -> Option<(String, Limit)> {
        check_source("BUILD.star", text).err()
    }

    #[test]
    fn ordinary_files_pass() {
        let text = "load(\"//r:x.star\", \"x\")\n\ndef f(a, *args, **kwargs):\n    if a:\n        return [x + 1 for x in args if x > 0]\n    return {\"k\": a[1:2], 'q': f\"{a}\"}  # [[[\n\ns = \"\"\"\n(((((\n\"\"\"\nl = [1] * 3\nl += [2]\nn = 2 ** 3 if 1 <= 2 else 3 // 4\n";
        assert_eq!(limit(text), None);
        let long_list = format!("srcs = [{}]\n", "\"a.txt\", ".repeat(50_000));
        assert_eq!(limit(&long_list), None);
        let chain = format!("x = 1{}\n", "+1".repeat(MAX_EXPRESSION_DEPTH - 1));
        assert_eq!(limit(&chain), None);
    }

    #[test]
    fn deep_brackets_are_refused_where_they_pass_the_limit() {
        let text = format!("x = 1\ny = {}{}\n", "[".repeat(3000), "]".repeat(3000));
        assert_eq!(
            limit(&text),
            Some(("BUILD.star:2:105".to_owned(), Limit::Brackets))
        );
        let fstring = format!("y = f\"{{{}}}\"\n", "(".repeat(200));
        assert_eq!(limit(&fstring).map(|(_, l)| l), Some(Limit::Brackets));
    }

    #[test]
    fn long_operator_chains_are_refused() {
        let text = format!("x = 1{}\n", "+1".repeat(10_000));
        assert_eq!(limit(&text).map(|(_, l)| l), Some(Limit::ExpressionDepth));
        let text = format!("x = \"\"{}\n", ".upper()".repeat(2_000));
        assert_eq!(limit(&text).map(|(_, l)| l), Some(Limit::ExpressionDepth));
    }

    #[test]
    fn deep_blocks_and_multiply_assign_are_refused() {
        let mut text = String::new();
        for i in 0..=MAX_NESTING {
            text.push_str(&format!("{}if True:\n", " ".repeat(i)));
        }
        text.push_str(&format!("{}x = 1\n", " ".repeat(MAX_NESTING + 1)));
        assert_eq!(limit(&text).map(|(_, l)| l), Some(Limit::Blocks));
        assert_eq!(
            limit("s = \"x\"\ns *= 3\n"),
            Some(("BUILD.star:2:3".to_owned(), Limit::MultiplyAssign))
        );
        assert_eq!(limit("x = a ** 2\ny = b // 3\nz = c << 1\n"), None);
    }
}
