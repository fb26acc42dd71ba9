//! The query language (Bazel's): target patterns, functions and set operators.
//!
//! ```text
//! expr := term (OP term)*                      OP: + - ^ union except intersect (left to right)
//! term := PATTERN | '(' expr ')'
//!       | deps(expr [, N]) | rdeps(expr, expr [, N]) | somepath(expr, expr)
//!       | allpaths(expr, expr) | kind(WORD, expr) | filter(WORD, expr) | attr(WORD, WORD, expr)
//! ```
//!
//! A `WORD` (a pattern, a regular expression) is bare or quoted with `"` or `'`.

use crate::Failure;

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    /// A target pattern: `//app:image`, `//lib/...`, `:name`.
    Pattern(String),
    /// `deps(x)`, `deps(x, N)`.
    Deps(Box<Expr>, Option<usize>),
    /// `rdeps(universe, x)`, `rdeps(universe, x, N)`.
    Rdeps(Box<Expr>, Box<Expr>, Option<usize>),
    /// `somepath(from, to)`: one path, if any.
    SomePath(Box<Expr>, Box<Expr>),
    /// `allpaths(from, to)`: every target on a path.
    AllPaths(Box<Expr>, Box<Expr>),
    /// `kind(regex, x)`: by rule name (`source file` for files).
    Kind(String, Box<Expr>),
    /// `filter(regex, x)`: by label.
    Filter(String, Box<Expr>),
    /// `attr(name, regex, x)`: by an attribute's value.
    Attr(String, String, Box<Expr>),
    /// A set operation.
    Binary(Box<Expr>, Op, Box<Expr>),
}

/// A set operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// `+`, `union`.
    Union,
    /// `-`, `except`.
    Except,
    /// `^`, `intersect`.
    Intersect,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Comma,
    /// A bare word.
    Word(String),
    /// A quoted word (never an operator or a function name).
    Quoted(String),
}

fn tokens(text: &str) -> Result<Vec<(usize, Token)>, String> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push((at, Token::Open));
                i += 1;
            }
            ')' => {
                out.push((at, Token::Close));
                i += 1;
            }
            ',' => {
                out.push((at, Token::Comma));
                i += 1;
            }
            '"' | '\'' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|(_, d)| *d == c)
                    .ok_or_else(|| format!("column {}: unterminated quote", at + 1))?;
                let word: String = chars[i + 1..i + 1 + end].iter().map(|(_, d)| d).collect();
                out.push((at, Token::Quoted(word)));
                i += end + 2;
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].1.is_whitespace()
                    && !matches!(chars[i].1, '(' | ')' | ',' | '"' | '\'')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().map(|(_, d)| d).collect();
                out.push((at, Token::Word(word)));
            }
        }
    }
    Ok(out)
}

struct Parser<'t> {
    tokens: &'t [(usize, Token)],
    next: usize,
    /// The query's length, for "at the end" errors.
    end: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|(_, t)| t)
    }

    fn column(&self) -> usize {
        self.tokens.get(self.next).map_or(self.end, |(at, _)| *at) + 1
    }

    fn fail<T>(&self, expected: &str) -> Result<T, String> {
        let found = match self.peek() {
            None => "the end".to_owned(),
            Some(Token::Open) => "`(`".to_owned(),
            Some(Token::Close) => "`)`".to_owned(),
            Some(Token::Comma) => "`,`".to_owned(),
            Some(Token::Word(w) | Token::Quoted(w)) => format!("`{w}`"),
        };
        Err(format!(
            "column {}: expected {expected}, found {found}",
            self.column()
        ))
    }

    fn expect(&mut self, token: &Token, shown: &str) -> Result<(), String> {
        if self.peek() == Some(token) {
            self.next += 1;
            Ok(())
        } else {
            self.fail(shown)
        }
    }

    fn expr(&mut self) -> Result<Expr, String> {
        let mut left = self.term()?;
        loop {
            let op = match self.peek() {
                Some(Token::Word(w)) if w == "+" || w == "union" => Op::Union,
                Some(Token::Word(w)) if w == "-" || w == "except" => Op::Except,
                Some(Token::Word(w)) if w == "^" || w == "intersect" => Op::Intersect,
                _ => return Ok(left),
            };
            self.next += 1;
            let right = self.term()?;
            left = Expr::Binary(Box::new(left), op, Box::new(right));
        }
    }

    fn word(&mut self) -> Result<String, String> {
        match self.peek() {
            Some(Token::Word(w) | Token::Quoted(w)) => {
                let w = w.clone();
                self.next += 1;
                Ok(w)
            }
            _ => self.fail("a word"),
        }
    }

    fn depth(&mut self) -> Result<Option<usize>, String> {
        if self.peek() != Some(&Token::Comma) {
            return Ok(None);
        }
        self.next += 1;
        match self.peek() {
            Some(Token::Word(w)) if w.parse::<usize>().is_ok() => {
                let depth = w.parse().ok();
                self.next += 1;
                Ok(depth)
            }
            _ => self.fail("a depth (a number)"),
        }
    }

    fn comma(&mut self) -> Result<(), String> {
        self.expect(&Token::Comma, "`,`")
    }

    fn term(&mut self) -> Result<Expr, String> {
        let function = match (self.peek(), self.tokens.get(self.next + 1).map(|(_, t)| t)) {
            (Some(Token::Open), _) => {
                self.next += 1;
                let inner = self.expr()?;
                self.expect(&Token::Close, "`)`")?;
                return Ok(inner);
            }
            (Some(Token::Word(name)), Some(Token::Open)) => name.clone(),
            (Some(Token::Word(w) | Token::Quoted(w)), _) => {
                let pattern = w.clone();
                self.next += 1;
                return Ok(Expr::Pattern(pattern));
            }
            _ => return self.fail("a target pattern or a function"),
        };
        self.next += 2;
        let boxed = |e: Expr| Box::new(e);
        let expr = match function.as_str() {
            "deps" => {
                let x = self.expr()?;
                Expr::Deps(boxed(x), self.depth()?)
            }
            "rdeps" => {
                let universe = self.expr()?;
                self.comma()?;
                let x = self.expr()?;
                Expr::Rdeps(boxed(universe), boxed(x), self.depth()?)
            }
            "somepath" | "allpaths" => {
                let from = self.expr()?;
                self.comma()?;
                let to = self.expr()?;
                if function == "somepath" {
                    Expr::SomePath(boxed(from), boxed(to))
                } else {
                    Expr::AllPaths(boxed(from), boxed(to))
                }
            }
            "kind" | "filter" => {
                let pattern = self.word()?;
                self.comma()?;
                let x = self.expr()?;
                if function == "kind" {
                    Expr::Kind(pattern, boxed(x))
                } else {
                    Expr::Filter(pattern, boxed(x))
                }
            }
            "attr" => {
                let name = self.word()?;
                self.comma()?;
                let pattern = self.word()?;
                self.comma()?;
                let x = self.expr()?;
                Expr::Attr(name, pattern, boxed(x))
            }
            other => {
                self.next -= 2;
                return Err(format!(
                    "column {}: unknown function `{other}`: expected deps, rdeps, somepath, allpaths, kind, filter or attr",
                    self.column()
                ));
            }
        };
        self.expect(&Token::Close, "`)`")?;
        Ok(expr)
    }
}

/// Parses the query `text`.
pub(crate) fn parse(text: &str) -> Result<Expr, Failure> {
    let bad = |why: String| Failure::user(format!("query `{text}`: {why}"));
    let tokens = tokens(text).map_err(bad)?;
    let mut parser = Parser {
        tokens: &tokens,
        next: 0,
        end: text.len(),
    };
    let expr = parser.expr().map_err(bad)?;
    if parser.next < tokens.len() {
        return parser
            .fail("an operator (+ - ^ union except intersect) or the end")
            .map_err(bad);
    }
    Ok(expr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(p: &str) -> Box<Expr> {
        Box::new(Expr::Pattern(p.to_owned()))
    }

    #[test]
    fn functions_operators_and_quotes() {
        assert_eq!(
            parse("deps(//a:b, 2) - kind('pkg_tar', //a/...)").expect("parses"),
            Expr::Binary(
                Box::new(Expr::Deps(pattern("//a:b"), Some(2))),
                Op::Except,
                Box::new(Expr::Kind("pkg_tar".into(), pattern("//a/...")))
            )
        );
        assert_eq!(
            parse("rdeps(//..., //lib:x) ^ (//a + //b)").expect("parses"),
            Expr::Binary(
                Box::new(Expr::Rdeps(pattern("//..."), pattern("//lib:x"), None)),
                Op::Intersect,
                Box::new(Expr::Binary(pattern("//a"), Op::Union, pattern("//b")))
            )
        );
    }

    #[test]
    fn errors_say_where_and_what_was_expected() {
        let message = |q: &str| parse(q).expect_err("refused").to_string();
        assert!(message("deps(//a").contains("expected `)`, found the end"));
        assert!(message("nope(//a)").contains("unknown function `nope`"));
        assert!(message("deps(//a, x)").contains("expected a depth (a number)"));
        assert!(message("//a //b").contains("column 5: expected an operator"));
        assert!(message("kind('x, //a)").contains("unterminated quote"));
    }
}
