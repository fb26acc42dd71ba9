//! `--format` templates in the style of Go's text/template, as Docker's commands take them:
//! `{{.Config.Env}}`, `{{json .Config}}`, `{{index .Config.Labels "k"}}`,
//! `{{range .RootFS.Layers}}{{println .}}{{end}}`, `{{if .Config.User}}…{{else}}…{{end}}`,
//! `{{join .RepoTags ", "}}`, `{{upper .Os}}`, `{{lower …}}`, `{{len …}}`; `{{-`/`-}}` trim
//! spaces; `\t` and `\n` in the text are a tab and a newline. Values print as Go prints them
//! (`[a b]`, `map[k:v]`).

use serde_json::Value;

/// A parsed template.
pub(crate) struct Template {
    nodes: Vec<Node>,
}

enum Node {
    Text(String),
    /// `{{pipeline}}`: prints the value.
    Print(Expr),
    /// `{{range expr}}body{{else}}otherwise{{end}}`.
    Range(Expr, Vec<Node>, Vec<Node>),
    /// `{{if expr}}then{{else}}otherwise{{end}}`.
    If(Expr, Vec<Node>, Vec<Node>),
}

enum Expr {
    /// `.A.B` (`.` alone: the current value).
    Path(Vec<String>),
    /// `"text"`.
    Literal(String),
    /// `name arg...`.
    Call(String, Vec<Expr>),
}

enum Token {
    Text(String),
    Action(String),
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
        tokens.push(Token::Text(text));
        tokens.push(Token::Action(action.trim().to_owned()));
    }
    tokens.push(Token::Text(rest.to_owned()));
    Ok(tokens)
}

fn words(action: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = action.chars().peekable();
    while let Some(&c) = chars.peek() {
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
                        None => return Err(format!("unterminated string in `{{{{{action}}}}}`")),
                    },
                    Some(other) => word.push(other),
                    None => return Err(format!("unterminated string in `{{{{{action}}}}}`")),
                }
            }
            words.push(word);
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
            words.push(word);
        }
    }
    Ok(words)
}

fn operand(word: &str) -> Result<Expr, String> {
    if let Some(text) = word.strip_prefix('"') {
        return Ok(Expr::Literal(text.to_owned()));
    }
    if word == "." {
        return Ok(Expr::Path(Vec::new()));
    }
    match word.strip_prefix('.') {
        Some(path) if !path.is_empty() => {
            Ok(Expr::Path(path.split('.').map(str::to_owned).collect()))
        }
        _ => Err(format!("expected `.Field` or a \"string\", found `{word}`")),
    }
}

const FUNCTIONS: &[&str] = &["json", "join", "index", "upper", "lower", "len", "println"];

fn expression(action: &str) -> Result<Expr, String> {
    let words = words(action)?;
    let Some((first, args)) = words.split_first() else {
        return Err("empty action `{{}}`".to_owned());
    };
    if first.starts_with(['.', '"']) {
        if !args.is_empty() {
            return Err(format!("`{action}`: a value cannot take arguments"));
        }
        return operand(first);
    }
    if !FUNCTIONS.contains(&first.as_str()) {
        return Err(format!(
            "unknown function `{first}`; expected one of {}",
            FUNCTIONS.join(", ")
        ));
    }
    let args = args.iter().map(|w| operand(w)).collect::<Result<_, _>>()?;
    Ok(Expr::Call(first.clone(), args))
}

/// Parses nodes until `{{end}}`/`{{else}}` (returned as the stop word) or the end.
fn parse_nodes(
    tokens: &mut std::iter::Peekable<std::vec::IntoIter<Token>>,
) -> Result<(Vec<Node>, Option<String>), String> {
    let mut nodes = Vec::new();
    while let Some(token) = tokens.next() {
        match token {
            Token::Text(text) => {
                if !text.is_empty() {
                    nodes.push(Node::Text(text.replace("\\t", "\t").replace("\\n", "\n")));
                }
            }
            Token::Action(action) => {
                if action == "end" || action == "else" {
                    return Ok((nodes, Some(action)));
                }
                let block = ["range ", "if "]
                    .into_iter()
                    .find(|keyword| action.starts_with(keyword));
                let Some(keyword) = block else {
                    nodes.push(Node::Print(expression(&action)?));
                    continue;
                };
                let condition = expression(&action[keyword.len()..])?;
                let (body, stop) = parse_nodes(tokens)?;
                let otherwise = match stop.as_deref() {
                    Some("else") => match parse_nodes(tokens)? {
                        (otherwise, Some(end)) if end == "end" => otherwise,
                        _ => return Err(format!("`{{{{{action}}}}}` has no `{{{{end}}}}`")),
                    },
                    Some(_) => Vec::new(),
                    None => return Err(format!("`{{{{{action}}}}}` has no `{{{{end}}}}`")),
                };
                nodes.push(if keyword == "if " {
                    Node::If(condition, body, otherwise)
                } else {
                    Node::Range(condition, body, otherwise)
                });
            }
        }
    }
    Ok((nodes, None))
}

/// Go's `%v` of a decoded JSON value.
fn go_text(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(go_text).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            format!(
                "map[{}]",
                entries
                    .iter()
                    .map(|(k, v)| format!("{k}:{}", go_text(v)))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
        other => other.to_string(),
    }
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn evaluate(expr: &Expr, dot: &Value) -> Result<Value, String> {
    match expr {
        Expr::Literal(text) => Ok(Value::String(text.clone())),
        Expr::Path(path) => {
            let mut value = dot;
            for field in path {
                value = match value {
                    Value::Object(map) => map.get(field).unwrap_or(&Value::Null),
                    Value::Null => &Value::Null,
                    _ => {
                        return Err(format!(
                            "`.{}`: `{field}` is not a field here",
                            path.join(".")
                        ));
                    }
                };
            }
            Ok(value.clone())
        }
        Expr::Call(name, args) => {
            let args = args
                .iter()
                .map(|a| evaluate(a, dot))
                .collect::<Result<Vec<_>, _>>()?;
            let arity = |n: usize| {
                if args.len() == n {
                    Ok(())
                } else {
                    Err(format!(
                        "`{name}` takes {n} argument(s), got {}",
                        args.len()
                    ))
                }
            };
            match name.as_str() {
                "json" => {
                    arity(1)?;
                    Ok(Value::String(args[0].to_string()))
                }
                "join" => {
                    arity(2)?;
                    let items = args[0].as_array().cloned().unwrap_or_default();
                    let text: Vec<String> = items.iter().map(go_text).collect();
                    Ok(Value::String(text.join(&go_text(&args[1]))))
                }
                "index" => {
                    arity(2)?;
                    Ok(match (&args[0], &args[1]) {
                        (Value::Object(map), key) => {
                            map.get(&go_text(key)).cloned().unwrap_or(Value::Null)
                        }
                        (Value::Array(items), Value::String(i)) => i
                            .parse::<usize>()
                            .ok()
                            .and_then(|i| items.get(i).cloned())
                            .unwrap_or(Value::Null),
                        _ => Value::Null,
                    })
                }
                "upper" | "lower" => {
                    arity(1)?;
                    let text = go_text(&args[0]);
                    Ok(Value::String(if name == "upper" {
                        text.to_uppercase()
                    } else {
                        text.to_lowercase()
                    }))
                }
                "len" => {
                    arity(1)?;
                    Ok(Value::from(match &args[0] {
                        Value::Array(a) => a.len(),
                        Value::Object(o) => o.len(),
                        Value::String(s) => s.len(),
                        _ => 0,
                    }))
                }
                "println" => Ok(Value::String(format!(
                    "{}\n",
                    args.iter().map(go_text).collect::<Vec<_>>().join(" ")
                ))),
                _ => Err(format!("unknown function `{name}`")),
            }
        }
    }
}

fn render_nodes(nodes: &[Node], dot: &Value, out: &mut String) -> Result<(), String> {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Print(expr) => match (expr, evaluate(expr, dot)?) {
                (Expr::Path(_), Value::Null) if dot.is_object() => out.push_str("<no value>"),
                (_, value) => out.push_str(&go_text(&value)),
            },
            Node::If(condition, then, otherwise) => {
                let branch = if truthy(&evaluate(condition, dot)?) {
                    then
                } else {
                    otherwise
                };
                render_nodes(branch, dot, out)?;
            }
            Node::Range(items, body, otherwise) => {
                let items: Vec<Value> = match evaluate(items, dot)? {
                    Value::Array(items) => items,
                    Value::Object(map) => map.into_iter().map(|(_, v)| v).collect(),
                    Value::Null => Vec::new(),
                    other => return Err(format!("cannot range over `{}`", go_text(&other))),
                };
                if items.is_empty() {
                    render_nodes(otherwise, dot, out)?;
                }
                for item in &items {
                    render_nodes(body, item, out)?;
                }
            }
        }
    }
    Ok(())
}

impl Template {
    /// Parses `source`; errors say what was expected.
    pub(crate) fn parse(source: &str) -> Result<Template, String> {
        if source.starts_with("table") {
            return Err("`table` formats are not supported; give a template or `json`".to_owned());
        }
        let mut tokens = tokenize(source)?.into_iter().peekable();
        match parse_nodes(&mut tokens)? {
            (nodes, None) => Ok(Template { nodes }),
            (_, Some(word)) => Err(format!(
                "`{{{{{word}}}}}` without `{{{{range}}}}` or `{{{{if}}}}`"
            )),
        }
    }

    /// Renders the template over `value`.
    pub(crate) fn render(&self, value: &Value) -> Result<String, String> {
        let mut out = String::new();
        render_nodes(&self.nodes, value, &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(template: &str, value: &Value) -> String {
        Template::parse(template)
            .and_then(|t| t.render(value))
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn templates_print_values_as_go_does() {
        let image = json!({
            "Id": "sha256:abc",
            "Size": 1234,
            "Config": {"Env": ["A=1", "B=2"], "Labels": {"b": "2", "a": "1"}, "User": ""},
            "RootFS": {"Layers": ["sha256:1", "sha256:2"]},
        });
        assert_eq!(render("{{.Id}}", &image), "sha256:abc");
        assert_eq!(render("{{.Size}}", &image), "1234");
        assert_eq!(render("{{.Config.Env}}", &image), "[A=1 B=2]");
        assert_eq!(render("{{.Config.Labels}}", &image), "map[a:1 b:2]");
        assert_eq!(render("{{json .Config.Env}}", &image), r#"["A=1","B=2"]"#);
        assert_eq!(render(r#"{{index .Config.Labels "b"}}"#, &image), "2");
        assert_eq!(render(r#"{{join .Config.Env ","}}"#, &image), "A=1,B=2");
        assert_eq!(
            render("{{range .RootFS.Layers}}{{println .}}{{end}}", &image),
            "sha256:1\nsha256:2\n"
        );
        assert_eq!(
            render(
                "{{if .Config.User}}{{.Config.User}}{{else}}root{{end}}",
                &image
            ),
            "root"
        );
        assert_eq!(
            render("{{.Id}}\\t{{len .Config.Env}}", &image),
            "sha256:abc\t2"
        );
        assert_eq!(render("a {{- .Id -}} b", &image), "asha256:abcb");
        assert_eq!(render("{{.Missing}}", &image), "<no value>");
    }

    #[test]
    fn bad_templates_say_what_was_expected() {
        let value = json!({});
        for (template, says) in [
            ("{{.Id", "unclosed"),
            ("{{nope .Id}}", "unknown function"),
            ("{{range .A}}", "no `{{end}}`"),
            ("{{end}}", "without"),
            ("{{json .A .B}}", "takes 1"),
            ("table {{.ID}}", "table"),
        ] {
            let out = render(template, &value);
            assert!(
                out.starts_with("error:") && out.contains(says),
                "{template}: {out}"
            );
        }
    }
}
