//! `--format` templates in the style of Go's text/template, as Docker's commands take them:
//! `{{.Config.Env}}`, `{{json .Config}}`, `{{index .Config.Labels "k"}}`,
//! `{{range .RootFS.Layers}}{{println .}}{{end}}`,
//! `{{range $k, $v := .Config.Labels}}{{$k}}={{$v}} {{end}}`, `{{$id := .Id}}`,
//! `{{if .Config.User}}…{{else}}…{{end}}`, `{{printf "%-12.12s" .Id}}`, pipelines
//! (`{{.Os | upper}}`) and parentheses (`{{json (index .Config.Labels "k")}}`); Go's `print`,
//! `println`, `printf`, `len`, `index`, `eq`, `ne`, `not`, `and`, `or` and Docker's `json`,
//! `join`, `split`, `upper`, `lower`, `title`, `pad`, `truncate`. `{{-`/`-}}` trim spaces;
//! `\t` and `\n` in the text are a tab and a newline. Values print as Go prints them
//! (`[a b]`, `map[k:v]`, maps in key order). A `table` format (`table {{.ID}}\t{{.Tag}}`) is
//! [`Table`]: a header row, then columns aligned as Docker's tabwriter aligns them.
//!
//! Why not the `gtmpl` crate (Go's text/template in Rust): tried on Docker's own formats, it
//! prints lists and maps in Rust's debug form (`[String("A=1")]` for `{{.Config.Env}}`),
//! ranges over a map in hash order (a different order from run to run), and its `%q` does
//! not quote; this subset prints what Docker prints.

mod render;

pub(crate) use render::Fields;
#[cfg(test)]
mod tests;

use serde_json::Value;

/// A parsed template.
pub(crate) struct Template {
    nodes: Vec<Node>,
    source: String,
}

enum Node {
    Text(String),
    /// `{{pipeline}}`: prints the value.
    Print(Expr),
    /// `{{$name := pipeline}}`: a variable, until the end of the enclosing block.
    Declare(String, Expr),
    /// `{{range [$k, $v :=] expr}}body{{else}}otherwise{{end}}`.
    Range(Range),
    /// `{{if expr}}then{{else}}otherwise{{end}}`.
    If(Expr, Vec<Node>, Vec<Node>),
}

struct Range {
    /// `$v` (each element) or `$k, $v` (its key or index, and the element).
    variables: Vec<String>,
    items: Expr,
    body: Vec<Node>,
    otherwise: Vec<Node>,
}

/// Where a field chain is in the source, as Go's errors name it: the byte offset of its
/// second field (of its first when it has one), and its text.
pub(super) struct At {
    offset: usize,
    text: String,
}

enum Expr {
    /// `.A.B` (`.` alone: the current value).
    Path(Vec<String>, At),
    /// `$name.A.B` (`$` alone: the value the template was given).
    Variable(String, Vec<String>, At),
    /// `"text"`, `12`, `true`.
    Literal(Value),
    /// `name arg...` (and `arg | name arg...`, the piped value last).
    Call(String, Vec<Expr>),
}

/// The functions a template may call.
const FUNCTIONS: &[&str] = &[
    "and", "eq", "index", "join", "json", "len", "lower", "ne", "not", "or", "pad", "print",
    "printf", "println", "split", "title", "truncate", "upper",
];

enum Token {
    Text(String),
    /// An action's text and its byte offset in the source.
    Action(String, usize),
}

fn tokenize(source: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut rest = source;
    while let Some(open) = rest.find("{{") {
        let mut text = rest[..open].to_owned();
        let after = &rest[open + 2..];
        let (after, trim_left) = match after.strip_prefix('-') {
            Some(a) if a.starts_with(char::is_whitespace) => (a, true),
            _ => (after, false),
        };
        if trim_left {
            text.truncate(text.trim_end().len());
        }
        let close = after
            .find("}}")
            .ok_or_else(|| format!("unclosed action at `{}`", &rest[open..]))?;
        let mut action = &after[..close];
        rest = &after[close + 2..];
        if let Some(a) = action.strip_suffix('-')
            && a.ends_with(char::is_whitespace)
        {
            action = a;
            rest = rest.trim_start();
        }
        let trimmed = action.trim_start();
        let offset = trimmed.as_ptr() as usize - source.as_ptr() as usize;
        tokens.push(Token::Text(text));
        tokens.push(Token::Action(trimmed.trim_end().to_owned(), offset));
    }
    tokens.push(Token::Text(rest.to_owned()));
    Ok(tokens)
}

/// A word of an action and its byte offset in the source.
type Word = (String, usize);

/// One word of an action (at `base` in the source): a quoted string (kept with its opening
/// quote), a parenthesized pipeline (kept with its parentheses), `|`, or a run of other
/// characters.
fn words(action: &str, base: usize) -> Result<Vec<Word>, String> {
    let unterminated = || format!("unterminated string in `{{{{{action}}}}}`");
    let mut words = Vec::new();
    let mut chars = action.chars().peekable();
    let at = |chars: &std::iter::Peekable<std::str::Chars<'_>>| {
        base + action.len() - chars.clone().map(char::len_utf8).sum::<usize>()
    };
    while let Some(&c) = chars.peek() {
        let start = at(&chars);
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut word = String::from('"');
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some('n') => word.push('\n'),
                        Some('t') => word.push('\t'),
                        Some(other) => word.push(other),
                        None => return Err(unterminated()),
                    },
                    Some(other) => word.push(other),
                    None => return Err(unterminated()),
                }
            }
            words.push((word, start));
        } else if c == '(' {
            let mut depth = 0;
            let mut word = String::new();
            let mut quoted = false;
            for c in chars.by_ref() {
                word.push(c);
                match c {
                    '"' => quoted = !quoted,
                    '(' if !quoted => depth += 1,
                    ')' if !quoted => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
            }
            if depth != 0 {
                return Err(format!("unclosed `(` in `{{{{{action}}}}}`"));
            }
            words.push((word, start));
        } else if c == '|' {
            chars.next();
            words.push(("|".to_owned(), start));
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '|' || c == '(' {
                    break;
                }
                word.push(c);
                chars.next();
            }
            words.push((word, start));
        }
    }
    Ok(words)
}

/// `.A.B` or `$x.A.B` split at the dots after the first.
fn fields(path: &str) -> Vec<String> {
    path.split('.')
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Where the field chain `word` at `offset` is, as Go names it: at its second field.
fn chain_at(word: &str, offset: usize) -> At {
    let second = word[1..].find('.').map_or(0, |dot| dot + 1);
    At {
        offset: offset + second,
        text: word.to_owned(),
    }
}

fn operand((word, offset): &Word) -> Result<Expr, String> {
    let (word, offset) = (word.as_str(), *offset);
    if let Some(text) = word.strip_prefix('"') {
        return Ok(Expr::Literal(Value::String(text.to_owned())));
    }
    if let Some(inner) = word.strip_prefix('(').and_then(|w| w.strip_suffix(')')) {
        return pipeline(inner, offset + 1);
    }
    if let Some(variable) = word.strip_prefix('$') {
        let (name, path) = variable.split_once('.').unwrap_or((variable, ""));
        let at = At {
            offset: offset + 1 + name.len(),
            text: word.to_owned(),
        };
        return Ok(Expr::Variable(format!("${name}"), fields(path), at));
    }
    match word {
        "." => return Ok(Expr::Path(Vec::new(), chain_at(word, offset))),
        "true" | "false" => return Ok(Expr::Literal(Value::Bool(word == "true"))),
        _ => {}
    }
    if let Ok(number) = word.parse::<i64>() {
        return Ok(Expr::Literal(Value::from(number)));
    }
    match word.strip_prefix('.') {
        Some(path) if !path.is_empty() => Ok(Expr::Path(fields(path), chain_at(word, offset))),
        _ => Err(format!(
            "expected `.Field`, `$variable`, a \"string\" or a number, found `{word}`"
        )),
    }
}

/// One command of a pipeline: a value alone, or a function and its arguments.
fn command(words: &[Word], action: &str) -> Result<Expr, String> {
    let Some((first, args)) = words.split_first() else {
        return Err(format!("empty command in `{{{{{action}}}}}`"));
    };
    let (first, _) = first;
    if !first.starts_with(|c: char| c.is_ascii_alphabetic()) || first == "true" || first == "false"
    {
        if !args.is_empty() {
            return Err(format!("`{action}`: a value cannot take arguments"));
        }
        return operand(&words[0]);
    }
    if !FUNCTIONS.contains(&first.as_str()) {
        return Err(format!(
            "unknown function `{first}`; expected one of {}",
            FUNCTIONS.join(", ")
        ));
    }
    let args = args.iter().map(operand).collect::<Result<_, _>>()?;
    Ok(Expr::Call(first.clone(), args))
}

/// `command | command ...`: each command after the first gets the value before it as its
/// last argument.
fn pipeline(action: &str, base: usize) -> Result<Expr, String> {
    let words = words(action, base)?;
    if words.is_empty() {
        return Err("empty action `{{}}`".to_owned());
    }
    let mut stages = words.split(|w| w.0 == "|");
    let first = stages.next().unwrap_or_default();
    let mut value = command(first, action)?;
    for stage in stages {
        match command(stage, action)? {
            Expr::Call(name, mut args) => {
                args.push(value);
                value = Expr::Call(name, args);
            }
            _ => return Err(format!("`{action}`: only a function can follow `|`")),
        }
    }
    Ok(value)
}

/// `$a, $b := rest` as the names and the rest, when `text` declares variables.
fn declaration(text: &str) -> Result<Option<(Vec<String>, &str)>, String> {
    let Some((names, rest)) = text.split_once(":=") else {
        return Ok(None);
    };
    if !names.trim_start().starts_with('$') {
        return Ok(None);
    }
    let names: Vec<String> = names.split(',').map(|n| n.trim().to_owned()).collect();
    if let Some(bad) = names
        .iter()
        .find(|n| n.len() < 2 || !n.starts_with('$') || n[1..].contains(['$', '.', ' ']))
    {
        return Err(format!("`{text}`: `{bad}` is not a variable name"));
    }
    Ok(Some((names, rest)))
}

type Tokens = std::iter::Peekable<std::vec::IntoIter<Token>>;

/// The body of `{{range …}}`/`{{if …}}` up to its `{{end}}`, and its `{{else}}` part.
fn block_bodies(tokens: &mut Tokens, action: &str) -> Result<(Vec<Node>, Vec<Node>), String> {
    let no_end = || format!("`{{{{{action}}}}}` has no `{{{{end}}}}`");
    let (body, stop) = parse_nodes(tokens)?;
    let otherwise = match stop.as_deref() {
        Some("else") => match parse_nodes(tokens)? {
            (otherwise, Some(end)) if end == "end" => otherwise,
            _ => return Err(no_end()),
        },
        Some(_) => Vec::new(),
        None => return Err(no_end()),
    };
    Ok((body, otherwise))
}

/// `{{range …}}` (its header after `range `), up to its `{{end}}`.
fn range_node(
    header: &str,
    base: usize,
    tokens: &mut Tokens,
    action: &str,
) -> Result<Node, String> {
    let (variables, items) = match declaration(header)? {
        Some((names, _)) if names.len() > 2 => {
            return Err(format!(
                "`{{{{{action}}}}}`: range declares one or two variables"
            ));
        }
        Some((names, rest)) => (names, pipeline(rest, base + header.len() - rest.len())?),
        None => (Vec::new(), pipeline(header, base)?),
    };
    let (body, otherwise) = block_bodies(tokens, action)?;
    Ok(Node::Range(Range {
        variables,
        items,
        body,
        otherwise,
    }))
}

/// Parses nodes until `{{end}}`/`{{else}}` (returned as the stop word) or the end.
fn parse_nodes(tokens: &mut Tokens) -> Result<(Vec<Node>, Option<String>), String> {
    let mut nodes = Vec::new();
    while let Some(token) = tokens.next() {
        let action = match token {
            Token::Text(text) => {
                if !text.is_empty() {
                    nodes.push(Node::Text(text.replace("\\t", "\t").replace("\\n", "\n")));
                }
                continue;
            }
            Token::Action(action, offset) => (action, offset),
        };
        let (action, offset) = action;
        if action == "end" || action == "else" {
            return Ok((nodes, Some(action)));
        }
        if let Some(header) = action.strip_prefix("range ") {
            nodes.push(range_node(header, offset + 6, tokens, &action)?);
        } else if let Some(condition) = action.strip_prefix("if ") {
            let condition = pipeline(condition, offset + 3)?;
            let (then, otherwise) = block_bodies(tokens, &action)?;
            nodes.push(Node::If(condition, then, otherwise));
        } else if let Some((names, rest)) = declaration(&action)? {
            let [name] = <[String; 1]>::try_from(names)
                .map_err(|_| format!("`{{{{{action}}}}}` declares more than one variable"))?;
            let rest_at = offset + action.len() - rest.len();
            nodes.push(Node::Declare(name, pipeline(rest, rest_at)?));
        } else {
            nodes.push(Node::Print(pipeline(&action, offset)?));
        }
    }
    Ok((nodes, None))
}

impl Template {
    /// Parses `source`; errors say what was expected.
    pub(crate) fn parse(source: &str) -> Result<Template, String> {
        let mut tokens = tokenize(source)?.into_iter().peekable();
        match parse_nodes(&mut tokens)? {
            (nodes, None) => Ok(Template {
                nodes,
                source: source.to_owned(),
            }),
            (_, Some(word)) => Err(format!(
                "`{{{{{word}}}}}` without `{{{{range}}}}` or `{{{{if}}}}`"
            )),
        }
    }

    /// Renders the template over `value`.
    /// `fields` says what the value is, for the wording of a missing field's error.
    pub(crate) fn render(&self, value: &Value, fields: Fields) -> Result<String, String> {
        render::render(&self.nodes, &self.source, value, false, fields)
    }

    /// Renders the template over a header row (each field's value its column's title), as
    /// Docker does for `table`: Docker's own functions (`json`, `upper`, …) then give back
    /// their argument's text unchanged.
    fn render_header(&self, headers: &Value, fields: Fields) -> Result<String, String> {
        render::render(&self.nodes, &self.source, headers, true, fields)
    }
}

/// A `table …` format: its template renders a header row and then each object's row, and
/// the tab-separated cells are aligned in columns.
pub(crate) struct Table {
    row: Template,
}

impl Table {
    /// The table format `source` (`table {{.Repository}}\t{{.Tag}}`), or `None` when it is
    /// not one. `table` alone is a table with no row template: the command's default table.
    pub(crate) fn parse(source: &str) -> Option<Result<Table, String>> {
        let rest = source.strip_prefix("table")?;
        if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
            return None;
        }
        Some(Template::parse(rest.trim_start()).map(|row| Table { row }))
    }

    /// Whether it is `table` alone.
    pub(crate) fn is_default(&self) -> bool {
        self.row.nodes.is_empty()
    }

    /// The table's lines: the header (each field of `headers` titled as Docker titles it,
    /// other fields by their name in capitals) and one row per object, aligned.
    pub(crate) fn render(
        &self,
        objects: &[Value],
        headers: &[(&str, &str)],
        fields: Fields,
    ) -> Result<Vec<String>, String> {
        let mut titles = serde_json::Map::new();
        for key in objects
            .first()
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            titles.insert(key.0.clone(), Value::String(key.0.to_uppercase()));
        }
        for (key, title) in headers {
            titles.insert((*key).to_owned(), Value::String((*title).to_owned()));
        }
        let mut text = self.row.render_header(&Value::Object(titles), fields)?;
        text.push('\n');
        for object in objects {
            text.push_str(&self.row.render(object, fields)?);
            text.push('\n');
        }
        Ok(align_columns(text.trim_end_matches('\n')))
    }
}

/// Aligns tab-terminated cells as Go's `tabwriter` does with Docker 20.10's settings
/// (minimum width 10, padding 3): a column is as wide as its widest cell in each run of lines that
/// have it; the text after a line's last tab is not a cell and is not padded.
pub(crate) fn align_columns(text: &str) -> Vec<String> {
    const MIN_WIDTH: usize = 10;
    const PADDING: usize = 3;
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    // The number of tab-terminated cells of each line.
    let cells = |line: usize| lines[line].len() - 1;
    let columns = (0..lines.len()).map(cells).max().unwrap_or(0);
    let mut widths = vec![vec![0; columns]; lines.len()];
    for column in 0..columns {
        let mut start = 0;
        while start < lines.len() {
            if cells(start) <= column {
                start += 1;
                continue;
            }
            let end = (start..lines.len())
                .find(|&l| cells(l) <= column)
                .unwrap_or(lines.len());
            let width = (start..end)
                .map(|l| lines[l][column].chars().count() + PADDING)
                .max()
                .unwrap_or(0)
                .max(MIN_WIDTH);
            for row in &mut widths[start..end] {
                row[column] = width;
            }
            start = end;
        }
    }
    lines
        .iter()
        .zip(&widths)
        .map(|(line, widths)| {
            let (last, terminated) = line.split_last().expect("invariant: split yields one");
            let mut out = String::new();
            for (cell, width) in terminated.iter().zip(widths) {
                out.push_str(&format!("{cell:<width$}"));
            }
            out.push_str(last);
            out
        })
        .collect()
}
