use serde_json::{Value, json};

use super::render::printf;
use super::{Fields, Table, Template, align_columns};

fn render(template: &str, value: &Value) -> String {
    Template::parse(template)
        .and_then(|t| t.render(value, Fields::Map))
        .unwrap_or_else(|e| format!("error: {e}"))
}

fn image() -> Value {
    json!({
        "Id": "sha256:abc",
        "Size": 1234,
        "Os": "linux",
        "Config": {"Env": ["A=1", "B=2"], "Labels": {"b": "2", "a": "1"}, "User": ""},
        "RootFS": {"Layers": ["sha256:1", "sha256:2"]},
    })
}

#[test]
fn templates_print_values_as_go_does() {
    let image = image();
    assert_eq!(render("{{.Id}}", &image), "sha256:abc");
    assert_eq!(render("{{.Size}}", &image), "1234");
    assert_eq!(render("{{.Config.Env}}", &image), "[A=1 B=2]");
    assert_eq!(render("{{.Config.Labels}}", &image), "map[a:1 b:2]");
    assert_eq!(render("{{json .Config.Env}}", &image), r#"["A=1","B=2"]"#);
    assert_eq!(
        render("{{json .Config}}", &image),
        // container.Config's field order, as Go's encoder writes the struct.
        r#"{"User":"","Env":["A=1","B=2"],"Labels":{"a":"1","b":"2"}}"#
    );
    assert_eq!(render(r#"{{index .Config.Labels "b"}}"#, &image), "2");
    assert_eq!(render("{{index .RootFS.Layers 1}}", &image), "sha256:2");
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
    // Docker 20.10.24: `docker inspect --format '{{.Nope}}'` exits 1 saying this.
    assert_eq!(
        render("{{.Missing}}", &image),
        r#"error: template: :1:2: executing "" at <.Missing>: map has no entry for key "Missing""#
    );
}

#[test]
fn range_declares_keys_and_values_in_key_order() {
    let image = image();
    assert_eq!(
        render(
            "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}} {{end}}",
            &image
        ),
        "a=1 b=2 "
    );
    assert_eq!(
        render(
            "{{range $i, $l := .RootFS.Layers}}{{$i}}:{{$l}} {{end}}",
            &image
        ),
        "0:sha256:1 1:sha256:2 "
    );
    assert_eq!(
        render("{{range $v := .Config.Env}}[{{$v}}]{{end}}", &image),
        "[A=1][B=2]"
    );
    // `$` is the whole value inside a range; a variable ends with its block.
    assert_eq!(
        render("{{range .Config.Env}}{{$.Os}} {{end}}", &image),
        "linux linux "
    );
    assert_eq!(
        render("{{$id := .Id}}{{range .Config.Env}}{{$id}} {{end}}", &image),
        "sha256:abc sha256:abc "
    );
    assert_eq!(
        render("{{range $v := .Config.Env}}{{end}}{{$v}}", &image),
        "error: undefined variable `$v`"
    );
    assert_eq!(
        render(
            "{{range .Config.Env}}x{{else}}none{{end}}",
            &json!({"Config": {"Env": []}})
        ),
        "none"
    );
}

#[test]
fn printf_formats_as_gos_fmt() {
    let image = image();
    assert_eq!(render(r#"{{printf "%s" .Id}}"#, &image), "sha256:abc");
    assert_eq!(
        render(r#"{{printf "%v|%d|%q" .Config.Env .Size .Id}}"#, &image),
        r#"[A=1 B=2]|1234|"sha256:abc""#
    );
    assert_eq!(render(r#"{{printf "%.6s" .Id}}"#, &image), "sha256");
    assert_eq!(render(r#"{{printf "[%-8s]" .Os}}"#, &image), "[linux   ]");
    assert_eq!(render(r#"{{printf "[%8s]" .Os}}"#, &image), "[   linux]");
    assert_eq!(render(r#"{{printf "%06d" .Size}}"#, &image), "001234");
    assert_eq!(render(r#"{{.Id | printf "%s!"}}"#, &image), "sha256:abc!");
    assert_eq!(printf("%d%%", &[json!(5)]), "5%");
    assert_eq!(printf("%d", &[json!("x")]), "%!d(string=x)");
    assert_eq!(printf("%s %s", &[json!("a")]), "a %!s(MISSING)");
    assert_eq!(printf("%s", &[json!("a"), json!(1)]), "a%!(EXTRA int=1)");
    assert_eq!(printf("%q", &[json!("a\"b\n")]), r#""a\"b\n""#);
    assert_eq!(printf("%t %x", &[json!(true), json!(255)]), "true ff");
}

#[test]
fn pipelines_parentheses_and_comparisons() {
    let image = image();
    assert_eq!(render("{{.Os | upper}}", &image), "LINUX");
    assert_eq!(
        render(r#"{{json (index .Config.Labels "a")}}"#, &image),
        r#""1""#
    );
    assert_eq!(render(r#"{{if eq .Os "linux"}}yes{{end}}"#, &image), "yes");
    assert_eq!(
        render(r#"{{if and .Os (not .Config.User)}}root{{end}}"#, &image),
        "root"
    );
    assert_eq!(
        render(r#"{{split "a:b" ":"}} {{title "hello world"}}"#, &image),
        "[a b] Hello World"
    );
    assert_eq!(
        render(r#"[{{pad .Os 1 2}}] {{truncate .Id 6}}"#, &image),
        "[ linux  ] sha256"
    );
}

#[test]
fn bad_templates_say_what_was_expected() {
    let value = json!({});
    for (template, says) in [
        ("{{.Id", "unclosed"),
        ("{{nope .Id}}", "unknown function"),
        ("{{range .A}}", "no `{{end}}`"),
        ("{{end}}", "without"),
        ("{{json . .}}", "takes 1"),
        ("{{printf}}", "format string"),
        ("{{.A | .B}}", "only a function"),
        ("{{range $a, $b, $c := .A}}{{end}}", "one or two variables"),
        ("{{json (index .A}}", "unclosed `(`"),
        ("{{$x}}", "undefined variable"),
    ] {
        let out = render(template, &value);
        assert!(
            out.starts_with("error:") && out.contains(says),
            "{template}: {out}"
        );
    }
}

#[test]
fn tables_have_a_header_and_columns_aligned_as_dockers_tabwriter() {
    let rows = [
        json!({"Repository": "app", "Tag": "1", "ID": "0123456789ab"}),
        json!({"Repository": "registry.example.com/team/service", "Tag": "latest", "ID": "ba9876543210"}),
    ];
    let headers = [("Repository", "REPOSITORY"), ("ID", "IMAGE ID")];
    let table = Table::parse("table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}")
        .expect("a table")
        .expect("parses");
    assert_eq!(
        table.render(&rows, &headers, Fields::Map).expect("renders"),
        [
            "REPOSITORY                          TAG       IMAGE ID",
            "app                                 1         0123456789ab",
            "registry.example.com/team/service   latest    ba9876543210",
        ]
    );
    // Docker's functions give a header back its title.
    let table = Table::parse("table {{json .Repository}}:{{upper .Tag}}")
        .expect("a table")
        .expect("parses");
    assert_eq!(
        table
            .render(&rows[..1], &headers, Fields::Map)
            .expect("renders"),
        ["REPOSITORY:TAG", r#""app":1"#]
    );
    assert!(
        Table::parse("table")
            .expect("a table")
            .expect("parses")
            .is_default()
    );
    assert!(Table::parse("tables {{.ID}}").is_none());
    assert!(Table::parse("{{.ID}}").is_none());
}

#[test]
fn columns_are_aligned_in_runs_of_lines_that_have_them() {
    assert_eq!(
        align_columns("a\tb\tc\nlonger-than-twenty-chars\td\nno tabs\nx\ty"),
        [
            "a                          b         c",
            "longer-than-twenty-chars   d",
            "no tabs",
            "x         y",
        ]
    );
}

/// What Docker 20.10.24 prints for `docker inspect --format …` on a BuildKit-built image
/// whose config sets Env and Cmd only (the daemon's output, pinned).
#[test]
fn missing_fields_and_empty_values_as_docker_prints_them() {
    let image = json!({
        "Id": "sha256:abc",
        "RepoDigests": [],
        "Size": 1982280,
        "Config": {
            "Env": ["A=1"], "Labels": null, "Entrypoint": null, "Healthcheck": null,
            "ArgsEscaped": false, "ExposedPorts": null, "StopTimeout": null, "Shell": null,
            "StopSignal": "",
        },
    });
    for (template, docker) in [
        ("{{.RepoDigests}}", "[]"),
        ("{{.Config.Labels}}", "map[]"),
        ("{{.Config.Entrypoint}}", "[]"),
        ("{{.Config.Healthcheck}}", "<nil>"),
        ("{{.Config.ArgsEscaped}}", "false"),
        ("{{.Config.ExposedPorts}}", "map[]"),
        (
            "{{.Config.StopSignal}}|{{.Config.Shell}}|{{.Config.StopTimeout}}",
            "|[]|<nil>",
        ),
        ("{{json .Config.Labels}}", "null"),
        (r#"{{index .Config.Labels "x"}}"#, ""),
        (
            "{{range $k, $v := .Config.Env}}{{$k}}={{$v}};{{end}}",
            "0=A=1;",
        ),
        (
            "x {{.Config.Nope}}",
            r#"error: template: :1:11: executing "" at <.Config.Nope>: map has no entry for key "Nope""#,
        ),
        (
            "{{json .Nope}}",
            r#"error: template: :1:7: executing "" at <.Nope>: map has no entry for key "Nope""#,
        ),
        (
            "{{range .Nope}}x{{end}}",
            r#"error: template: :1:8: executing "" at <.Nope>: map has no entry for key "Nope""#,
        ),
        (
            "{{.Config.Env.Nope}}",
            r#"error: template: :1:9: executing "" at <.Config.Env.Nope>: can't evaluate field Nope in type interface {}"#,
        ),
    ] {
        assert_eq!(render(template, &image), docker, "{template}");
    }
    // `docker images --format '{{.Nope}}'`: its rows are Go structs.
    let row = json!({"Repository": "busybox"});
    let out = Template::parse("{{.Nope}}")
        .and_then(|t| t.render(&row, Fields::Struct("*formatter.imageContext")))
        .unwrap_or_else(|e| e);
    assert_eq!(
        out,
        r#"template: :1:2: executing "" at <.Nope>: can't evaluate field Nope in type *formatter.imageContext"#
    );
}
