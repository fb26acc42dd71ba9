//! The Go types behind `docker image inspect` (Docker 20.10's `types.ImageInspect`,
//! `container.Config`, …), as far as their JSON and their `--format` text show them: fields
//! in struct order (Go's encoder writes a struct's fields in declaration order, a map's keys
//! sorted), `omitempty` fields left out when empty, and how an empty field prints in a
//! template (`[]` for a nil slice, `map[]` for a nil map, `<nil>` for a nil pointer).
//!
//! The value given is taken for one of these structs when all its keys are fields of it (the
//! `json` template function gets `.Config` as well as `.`); below it, each field's type is
//! known from its struct, and every other object is a map (keys sorted).

use serde_json::Value;

/// A field of a Go struct: its JSON name, whether it is `omitempty`, how it prints in a
/// template when it is `null` (its Go zero value), and its fields when it is a struct.
pub(crate) struct Field(&'static str, bool, &'static str, Option<&'static [Field]>);

const SLICE: &str = "[]";
const MAP: &str = "map[]";
const NIL: &str = "<nil>";

/// `types.ImageInspect`.
const IMAGE_INSPECT: &[Field] = &[
    Field("Id", false, NIL, None),
    Field("RepoTags", false, SLICE, None),
    Field("RepoDigests", false, SLICE, None),
    Field("Parent", false, NIL, None),
    Field("Comment", false, NIL, None),
    Field("Created", false, NIL, None),
    Field("Container", false, NIL, None),
    Field("ContainerConfig", false, NIL, Some(CONTAINER_CONFIG)),
    Field("DockerVersion", false, NIL, None),
    Field("Author", false, NIL, None),
    Field("Config", false, NIL, Some(CONTAINER_CONFIG)),
    Field("Architecture", false, NIL, None),
    Field("Variant", true, NIL, None),
    Field("Os", false, NIL, None),
    Field("OsVersion", true, NIL, None),
    Field("Size", false, NIL, None),
    Field("VirtualSize", false, NIL, None),
    Field("GraphDriver", false, NIL, Some(GRAPH_DRIVER)),
    Field("RootFS", false, NIL, Some(ROOT_FS)),
    Field("Metadata", false, NIL, Some(METADATA)),
];

/// `container.Config`.
const CONTAINER_CONFIG: &[Field] = &[
    Field("Hostname", false, NIL, None),
    Field("Domainname", false, NIL, None),
    Field("User", false, NIL, None),
    Field("AttachStdin", false, NIL, None),
    Field("AttachStdout", false, NIL, None),
    Field("AttachStderr", false, NIL, None),
    Field("ExposedPorts", true, MAP, None),
    Field("Tty", false, NIL, None),
    Field("OpenStdin", false, NIL, None),
    Field("StdinOnce", false, NIL, None),
    Field("Env", false, SLICE, None),
    Field("Cmd", false, SLICE, None),
    Field("Healthcheck", true, NIL, Some(HEALTH_CONFIG)),
    Field("ArgsEscaped", true, NIL, None),
    Field("Image", false, NIL, None),
    Field("Volumes", false, MAP, None),
    Field("WorkingDir", false, NIL, None),
    Field("Entrypoint", false, SLICE, None),
    Field("NetworkDisabled", true, NIL, None),
    Field("MacAddress", true, NIL, None),
    Field("OnBuild", false, SLICE, None),
    Field("Labels", false, MAP, None),
    Field("StopSignal", true, NIL, None),
    Field("StopTimeout", true, NIL, None),
    Field("Shell", true, SLICE, None),
];

/// `container.HealthConfig`.
const HEALTH_CONFIG: &[Field] = &[
    Field("Test", true, SLICE, None),
    Field("Interval", true, NIL, None),
    Field("Timeout", true, NIL, None),
    Field("StartPeriod", true, NIL, None),
    Field("Retries", true, NIL, None),
];

/// `types.GraphDriverData`, `types.RootFS`, `types.ImageMetadata`.
const GRAPH_DRIVER: &[Field] = &[
    Field("Data", false, MAP, None),
    Field("Name", false, NIL, None),
];
const ROOT_FS: &[Field] = &[
    Field("Type", false, NIL, None),
    Field("Layers", true, SLICE, None),
    Field("BaseLayer", true, NIL, None),
];
const METADATA: &[Field] = &[Field("LastTagTime", false, NIL, None)];

const STRUCTS: &[&[Field]] = &[
    IMAGE_INSPECT,
    CONTAINER_CONFIG,
    HEALTH_CONFIG,
    GRAPH_DRIVER,
    ROOT_FS,
    METADATA,
];

/// The names of `container.Config`'s fields, in order, with their zero values: what Docker
/// shows for a field the image's config leaves out.
pub(crate) fn container_config_fields() -> impl Iterator<Item = (&'static str, Value)> {
    CONTAINER_CONFIG.iter().map(|Field(name, _, null, _)| {
        let zero = match *name {
            "Hostname" | "Domainname" | "User" | "Image" | "WorkingDir" | "MacAddress"
            | "StopSignal" => Value::String(String::new()),
            "AttachStdin" | "AttachStdout" | "AttachStderr" | "Tty" | "OpenStdin" | "StdinOnce"
            | "ArgsEscaped" | "NetworkDisabled" => Value::Bool(false),
            _ => {
                debug_assert!(!null.is_empty());
                Value::Null
            }
        };
        (*name, zero)
    })
}

/// The struct an object is, when all its keys are fields of one.
fn struct_of(object: &serde_json::Map<String, Value>) -> Option<&'static [Field]> {
    if object.is_empty() {
        return None;
    }
    STRUCTS
        .iter()
        .copied()
        .find(|fields| object.keys().all(|k| fields.iter().any(|f| f.0 == k)))
}

/// Whether Go's `omitempty` leaves `value` out.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// An object's entries as Go writes them: a struct's fields in order (`omitempty` ones left
/// out when empty), a map's keys sorted.
type Entry<'a> = (&'a String, &'a Value, Option<&'static [Field]>);

fn entries<'a>(
    object: &'a serde_json::Map<String, Value>,
    fields: Option<&'static [Field]>,
) -> Vec<Entry<'a>> {
    match fields {
        Some(fields) => fields
            .iter()
            .filter_map(|Field(name, omitempty, _, child)| {
                let (key, value) = object.get_key_value(*name)?;
                (!(*omitempty && is_empty(value))).then_some((key, value, *child))
            })
            .collect(),
        None => {
            let mut entries: Vec<_> = object.iter().map(|(k, v)| (k, v, None)).collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            entries
        }
    }
}

/// `value` as Go's `encoding/json` writes it (compact, as the `json` template function
/// does; `indent`: as `docker inspect` prints it, each level indented by `indent`).
pub(crate) fn to_json(value: &Value, indent: Option<&str>) -> String {
    let fields = match value {
        Value::Object(object) => struct_of(object),
        Value::Array(items) => items.first().and_then(Value::as_object).and_then(struct_of),
        _ => None,
    };
    let mut out = String::new();
    write_json(value, fields, indent, 0, &mut out);
    out
}

/// Writes `value` (of the struct `fields`, when it is one).
fn write_json(
    value: &Value,
    fields: Option<&'static [Field]>,
    indent: Option<&str>,
    depth: usize,
    out: &mut String,
) {
    let newline = |out: &mut String, depth: usize| {
        if let Some(indent) = indent {
            out.push('\n');
            out.push_str(&indent.repeat(depth));
        }
    };
    // Each item's key (none in an array), value and struct.
    type Item<'a> = (Option<&'a String>, &'a Value, Option<&'static [Field]>);
    let items: Vec<Item> = match value {
        // An array of images (`docker inspect`'s list) holds structs of the same kind.
        Value::Array(items) if !items.is_empty() => {
            items.iter().map(|v| (None, v, fields)).collect()
        }
        Value::Object(object) if !object.is_empty() => entries(object, fields)
            .into_iter()
            .map(|(k, v, child)| (Some(k), v, child))
            .collect(),
        other => {
            out.push_str(&other.to_string());
            return;
        }
    };
    let (open, close) = if value.is_array() {
        ('[', ']')
    } else {
        ('{', '}')
    };
    out.push(open);
    for (i, (key, item, child)) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        newline(out, depth + 1);
        if let Some(key) = key {
            out.push_str(&Value::String((*key).clone()).to_string());
            out.push_str(if indent.is_some() { ": " } else { ":" });
        }
        write_json(item, *child, indent, depth + 1, out);
    }
    newline(out, depth);
    out.push(close);
}

/// How the field `name` of one of these structs prints in a template when it is `null`:
/// its Go zero value (`[]`, `map[]`, `<nil>`); `None` when no struct has such a field.
pub(crate) fn null_text(name: &str) -> Option<&'static str> {
    STRUCTS
        .iter()
        .flat_map(|fields| fields.iter())
        .find(|f| f.0 == name)
        .map(|f| f.2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn structs_keep_field_order_and_maps_sort() {
        let value = json!({"RootFS": {"Type": "layers", "Layers": []},
            "Config": {"Labels": {"b": "1", "a": "2"}, "User": "", "ArgsEscaped": false, "Env": null},
            "Id": "x"});
        assert_eq!(
            to_json(&value, None),
            r#"{"Id":"x","Config":{"User":"","Env":null,"Labels":{"a":"2","b":"1"}},"RootFS":{"Type":"layers"}}"#
        );
        assert_eq!(
            to_json(&json!([{"Id": "x", "RepoTags": []}]), Some("    ")),
            "[\n    {\n        \"Id\": \"x\",\n        \"RepoTags\": []\n    }\n]"
        );
    }
}
