//! Rendering a parsed template: values printed as Go prints them, variables in scope, and
//! the functions.

use serde_json::Value;

use super::{At, Expr, Node, Range};
use crate::image::docker_json;

/// What the values a template is given are, as Go's errors name them.
#[derive(Clone, Copy)]
pub(crate) enum Fields {
    /// Decoded JSON (`docker inspect`'s objects): a missing key is "map has no entry".
    Map,
    /// A Go struct of this type (`*formatter.imageContext`): "can't evaluate field".
    Struct(&'static str),
}

/// What rendering sees besides the current value (`.`).
struct Scope<'a> {
    /// Variables in scope, innermost last (`$` first: the value the template was given).
    variables: Vec<(String, Value)>,
    /// Rendering a `table` header: Docker's functions give back their argument's text.
    header: bool,
    /// The template's text, for the line and column of an error.
    source: &'a str,
    fields: Fields,
}

/// Renders `nodes` (parsed from `source`) over `value`.
pub(super) fn render(
    nodes: &[Node],
    source: &str,
    value: &Value,
    header: bool,
    fields: Fields,
) -> Result<String, String> {
    let mut scope = Scope {
        variables: vec![("$".to_owned(), value.clone())],
        header,
        source,
        fields,
    };
    let mut out = String::new();
    render_nodes(nodes, value, &mut scope, &mut out)?;
    Ok(out)
}

/// Go's `%v` of a decoded JSON value (maps in key order, as Go prints them).
pub(super) fn go_text(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(go_text).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(map) => format!(
            "map[{}]",
            sorted_entries(map)
                .iter()
                .map(|(k, v)| format!("{k}:{}", go_text(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

fn sorted_entries(map: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
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

/// `.A.B` followed from `value`; a field that is not there is an error, worded as Go's
/// text/template words it (Docker 20.10.24: `template: :1:2: executing "" at <.Nope>: map
/// has no entry for key "Nope"`).
fn follow(value: &Value, path: &[String], at: &At, scope: &Scope) -> Result<Value, String> {
    let fail = |message: String| {
        let before = &scope.source[..at.offset.min(scope.source.len())];
        let line = 1 + before.matches('\n').count();
        let column = before.len() - before.rfind('\n').map_or(0, |n| n + 1);
        Err(format!(
            "template: :{line}:{column}: executing \"\" at <{}>: {message}",
            at.text
        ))
    };
    let mut value = value;
    for (depth, field) in path.iter().enumerate() {
        value = match (value, scope.fields) {
            (Value::Object(map), fields) => match (map.get(field), fields) {
                (Some(found), _) => found,
                (None, Fields::Struct(name)) if depth == 0 => {
                    return fail(format!("can't evaluate field {field} in type {name}"));
                }
                (None, _) => return fail(format!("map has no entry for key \"{field}\"")),
            },
            (Value::Null, _) => &Value::Null,
            _ => {
                return fail(format!(
                    "can't evaluate field {field} in type interface {{}}"
                ));
            }
        };
    }
    Ok(value.clone())
}

fn evaluate(expr: &Expr, dot: &Value, scope: &Scope) -> Result<Value, String> {
    match expr {
        Expr::Literal(value) => Ok(value.clone()),
        Expr::Path(path, at) => follow(dot, path, at, scope),
        Expr::Variable(name, path, at) => {
            let (_, value) = scope
                .variables
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .ok_or_else(|| format!("undefined variable `{name}`"))?;
            follow(value, path, at, scope)
        }
        Expr::Call(name, args) => {
            let args = args
                .iter()
                .map(|a| evaluate(a, dot, scope))
                .collect::<Result<Vec<_>, _>>()?;
            call(name, &args, scope.header)
        }
    }
}

fn arity(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!(
            "`{name}` takes {n} argument(s), got {}",
            args.len()
        ))
    }
}

/// An integer argument (`pad`, `truncate`, `index`).
fn integer(name: &str, value: &Value) -> Result<i64, String> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
        .ok_or_else(|| format!("`{name}`: expected a number, got `{}`", go_text(value)))
}

/// Docker's own functions (`json`, `join`, `split`, `upper`, `lower`, `title`, `pad`,
/// `truncate`), which a `table` header gives its first argument's text back from.
fn docker_function(name: &str, args: &[Value], header: bool) -> Option<Result<Value, String>> {
    let expected = match name {
        "json" | "upper" | "lower" | "title" => 1,
        "join" | "split" | "truncate" => 2,
        "pad" => 3,
        _ => return None,
    };
    if let Err(e) = arity(name, args, expected) {
        return Some(Err(e));
    }
    if header {
        return Some(Ok(Value::String(go_text(&args[0]))));
    }
    let text = go_text(&args[0]);
    Some(Ok(match name {
        "json" => Value::String(docker_json::to_json(&args[0], None)),
        "join" => {
            let items = args[0].as_array().cloned().unwrap_or_default();
            let text: Vec<String> = items.iter().map(go_text).collect();
            Value::String(text.join(&go_text(&args[1])))
        }
        "split" => Value::Array(
            text.split(&go_text(&args[1]))
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        ),
        "upper" => Value::String(text.to_uppercase()),
        "lower" => Value::String(text.to_lowercase()),
        "title" => Value::String(
            text.split(' ')
                .map(|word| {
                    let mut chars = word.chars();
                    chars
                        .next()
                        .map(|c| c.to_uppercase().chain(chars).collect())
                        .unwrap_or_default()
                })
                .collect::<Vec<String>>()
                .join(" "),
        ),
        "truncate" => match integer(name, &args[1]) {
            Ok(n) => Value::String(text.chars().take(n.max(0) as usize).collect()),
            Err(e) => return Some(Err(e)),
        },
        _ => match (integer(name, &args[1]), integer(name, &args[2])) {
            (Ok(left), Ok(right)) => Value::String(format!(
                "{}{text}{}",
                " ".repeat(left.max(0) as usize),
                " ".repeat(right.max(0) as usize)
            )),
            (Err(e), _) | (_, Err(e)) => return Some(Err(e)),
        },
    }))
}

/// `index COLLECTION KEY...`: a map's entry by key, a list's element by position.
fn index(args: &[Value]) -> Result<Value, String> {
    let Some((collection, keys)) = args.split_first() else {
        return Err("`index` takes a collection and keys".to_owned());
    };
    let mut value = collection.clone();
    for key in keys {
        value = match (&value, key) {
            // The maps Docker's objects hold map strings to strings: a missing key is "".
            (Value::Object(map), key) => map
                .get(&go_text(key))
                .cloned()
                .unwrap_or_else(|| Value::String(String::new())),
            (Value::Array(items), key) => {
                let at = integer("index", key)?;
                usize::try_from(at)
                    .ok()
                    .and_then(|i| items.get(i).cloned())
                    .ok_or_else(|| format!("`index`: {at} is out of range"))?
            }
            (Value::Null, _) => Value::String(String::new()),
            (other, _) => return Err(format!("`index`: cannot index `{}`", go_text(other))),
        };
    }
    Ok(value)
}

fn call(name: &str, args: &[Value], header: bool) -> Result<Value, String> {
    if let Some(result) = docker_function(name, args, header) {
        return result;
    }
    match name {
        "index" => index(args),
        "len" => {
            arity(name, args, 1)?;
            Ok(Value::from(match &args[0] {
                Value::Array(a) => a.len(),
                Value::Object(o) => o.len(),
                Value::String(s) => s.len(),
                other => return Err(format!("`len`: `{}` has no length", go_text(other))),
            }))
        }
        "print" => Ok(Value::String(args.iter().map(go_text).collect())),
        "println" => Ok(Value::String(format!(
            "{}\n",
            args.iter().map(go_text).collect::<Vec<_>>().join(" ")
        ))),
        "printf" => match args.split_first() {
            Some((Value::String(format), rest)) => Ok(Value::String(printf(format, rest))),
            _ => Err("`printf` takes a format string first".to_owned()),
        },
        "eq" | "ne" => {
            arity(name, args, 2)?;
            Ok(Value::Bool((args[0] == args[1]) == (name == "eq")))
        }
        "not" => {
            arity(name, args, 1)?;
            Ok(Value::Bool(!truthy(&args[0])))
        }
        // Go's `and`/`or` give back the argument that decided.
        "and" => Ok(args
            .iter()
            .find(|a| !truthy(a))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null)),
        "or" => Ok(args
            .iter()
            .find(|a| truthy(a))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null)),
        _ => Err(format!("unknown function `{name}`")),
    }
}

/// Go's name for a decoded JSON value's type, as `fmt` shows it in `%!verb(type=value)`.
fn go_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// Go's `%q` of a string.
fn go_quote(text: &str) -> String {
    let mut out = String::from('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One `%…` directive: its flags, width and precision, and its verb.
struct Directive {
    left: bool,
    zero: bool,
    width: Option<usize>,
    precision: Option<usize>,
    verb: char,
}

/// Reads a directive after its `%`.
fn directive(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Directive {
    let (mut left, mut zero) = (false, false);
    while let Some(&c) = chars.peek() {
        match c {
            '-' => left = true,
            '0' => zero = true,
            '+' | ' ' | '#' => {}
            _ => break,
        }
        chars.next();
    }
    let number = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        let mut digits = String::new();
        while let Some(&c) = chars.peek().filter(|c| c.is_ascii_digit()) {
            digits.push(c);
            chars.next();
        }
        digits.parse().ok()
    };
    let width = number(chars);
    let precision = if chars.peek() == Some(&'.') {
        chars.next();
        Some(number(chars).unwrap_or(0))
    } else {
        None
    };
    Directive {
        left,
        zero,
        width,
        precision,
        verb: chars.next().unwrap_or('%'),
    }
}

/// The text of one argument under a directive, before padding.
fn formatted(directive: &Directive, value: &Value) -> String {
    let bad = || {
        format!(
            "%!{}({}={})",
            directive.verb,
            go_type(value),
            go_text(value)
        )
    };
    let cut = |text: String| match directive.precision {
        Some(n) => text.chars().take(n).collect(),
        None => text,
    };
    match (directive.verb, value) {
        ('v' | 's', _) => cut(go_text(value)),
        ('q', Value::String(s)) => go_quote(&cut(s.clone())),
        ('d', Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
        ('t', Value::Bool(b)) => b.to_string(),
        ('x', Value::Number(n)) if n.is_i64() => format!("{:x}", n.as_i64().unwrap_or(0)),
        ('x', Value::String(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
        ('f', Value::Number(n)) => {
            format!(
                "{:.*}",
                directive.precision.unwrap_or(6),
                n.as_f64().unwrap_or(0.0)
            )
        }
        _ => bad(),
    }
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%v %s %q %d %t %x %f %%`, with the `-`
/// and `0` flags, a width and a precision; a missing argument is `%!v(MISSING)`, an extra one
/// `%!(EXTRA type=value)`, as in Go.
pub(super) fn printf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let directive = directive(&mut chars);
        if directive.verb == '%' {
            out.push('%');
            continue;
        }
        let Some(value) = args.next() else {
            out.push_str(&format!("%!{}(MISSING)", directive.verb));
            continue;
        };
        let text = formatted(&directive, value);
        let width = directive.width.unwrap_or(0);
        let numeric = matches!(directive.verb, 'd' | 'x' | 'f') && value.is_number();
        out.push_str(&match (directive.left, directive.zero && numeric) {
            (true, _) => format!("{text:<width$}"),
            (false, true) => format!("{text:0>width$}"),
            (false, false) => format!("{text:>width$}"),
        });
    }
    let extra: Vec<String> = args
        .map(|v| format!("{}={}", go_type(v), go_text(v)))
        .collect();
    if !extra.is_empty() {
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

/// The `(key, element)` pairs a range goes over: a list's by position, a map's in key order.
fn range_items(value: Value) -> Result<Vec<(Value, Value)>, String> {
    Ok(match value {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| (Value::from(i), item))
            .collect(),
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            entries
                .into_iter()
                .map(|(k, v)| (Value::String(k), v))
                .collect()
        }
        Value::Null => Vec::new(),
        Value::Number(n) if n.as_u64().is_some() => (0..n.as_u64().unwrap_or(0))
            .map(|i| (Value::from(i), Value::from(i)))
            .collect(),
        other => return Err(format!("cannot range over `{}`", go_text(&other))),
    })
}

fn render_range(
    range: &Range,
    dot: &Value,
    scope: &mut Scope,
    out: &mut String,
) -> Result<(), String> {
    let items = range_items(evaluate(&range.items, dot, scope)?)?;
    if items.is_empty() {
        return render_block(&range.otherwise, dot, scope, out);
    }
    for (key, item) in items {
        let depth = scope.variables.len();
        match range.variables.as_slice() {
            [element] => scope.variables.push((element.clone(), item.clone())),
            [key_name, element] => {
                scope.variables.push((key_name.clone(), key));
                scope.variables.push((element.clone(), item.clone()));
            }
            _ => {}
        }
        let rendered = render_block(&range.body, &item, scope, out);
        scope.variables.truncate(depth);
        rendered?;
    }
    Ok(())
}

/// Renders a block's nodes; the variables it declares end with it.
fn render_block(
    nodes: &[Node],
    dot: &Value,
    scope: &mut Scope,
    out: &mut String,
) -> Result<(), String> {
    let depth = scope.variables.len();
    let rendered = render_nodes(nodes, dot, scope, out);
    scope.variables.truncate(depth);
    rendered
}

fn render_nodes(
    nodes: &[Node],
    dot: &Value,
    scope: &mut Scope,
    out: &mut String,
) -> Result<(), String> {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Print(expr) => match (expr, evaluate(expr, dot, scope)?) {
                // A field that is there and empty prints as Go prints its type's zero value
                // (`[]`, `map[]`, `<nil>`).
                (Expr::Path(path, _) | Expr::Variable(_, path, _), Value::Null) => {
                    let zero = path.last().and_then(|field| docker_json::null_text(field));
                    out.push_str(zero.unwrap_or("<nil>"));
                }
                (_, value) => out.push_str(&go_text(&value)),
            },
            Node::Declare(name, expr) => {
                let value = evaluate(expr, dot, scope)?;
                scope.variables.push((name.clone(), value));
            }
            Node::If(condition, then, otherwise) => {
                let branch = if truthy(&evaluate(condition, dot, scope)?) {
                    then
                } else {
                    otherwise
                };
                render_block(branch, dot, scope, out)?;
            }
            Node::Range(range) => render_range(range, dot, scope, out)?,
        }
    }
    Ok(())
}
