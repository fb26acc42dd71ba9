//! `bld image inspect` (Docker's JSON shape) and `bld image history` / `bld history`.

use bld_store::Store;
use clap::Args;
use serde_json::{Map, Value, json};

use super::{
    LocalImage, created_at, created_since, ellipsis, find, human_size, local_images,
    print_formatted, print_table,
};
use crate::{Classified, Failure};

/// Arguments of `bld image inspect`.
#[derive(Args)]
pub(crate) struct InspectArgs {
    /// Images: `name[:tag]`, `name@sha256:…`, an IMAGE ID or a prefix of one.
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
    /// A template applied to each image, such as `{{.Config.Env}}` or `{{json .RootFS}}`.
    #[arg(long, short, value_name = "TEMPLATE")]
    format: Option<String>,
}

/// Arguments of `bld image history`.
#[derive(Args)]
pub(crate) struct HistoryArgs {
    /// The image: `name[:tag]`, `name@sha256:…`, an IMAGE ID or a prefix of one.
    #[arg(value_name = "IMAGE")]
    image: String,
    /// Do not shorten CREATED BY or IMAGE.
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Print only the IMAGE column.
    #[arg(long, short)]
    quiet: bool,
    /// `json`: one JSON object per entry, one per line; a template such as
    /// `{{.CreatedBy}}`; or `table` and a template, with a header row
    /// (`table {{.ID}}\t{{.CreatedBy}}`).
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
}

/// The object `docker image inspect` prints for an image.
fn inspect_object(
    store: &Store,
    image: &LocalImage,
    images: &[LocalImage],
) -> Result<Value, Failure> {
    let config = image
        .config
        .get("config")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let field = |key: &str| config.get(key).cloned().unwrap_or(Value::Null);
    let text = |key: &str| config.get(key).cloned().unwrap_or_else(|| json!(""));
    let mut container_config = Map::new();
    for (key, value) in [
        ("Hostname", json!("")),
        ("Domainname", json!("")),
        ("User", text("User")),
        ("AttachStdin", json!(false)),
        ("AttachStdout", json!(false)),
        ("AttachStderr", json!(false)),
        ("ExposedPorts", field("ExposedPorts")),
        ("Tty", json!(false)),
        ("OpenStdin", json!(false)),
        ("StdinOnce", json!(false)),
        ("Env", field("Env")),
        ("Cmd", field("Cmd")),
        ("Healthcheck", field("Healthcheck")),
        ("Image", json!("")),
        ("Volumes", field("Volumes")),
        ("WorkingDir", text("WorkingDir")),
        ("Entrypoint", field("Entrypoint")),
        ("OnBuild", field("OnBuild")),
        ("Labels", field("Labels")),
        ("StopSignal", field("StopSignal")),
        ("Shell", field("Shell")),
    ] {
        let optional = matches!(key, "ExposedPorts" | "Healthcheck" | "StopSignal" | "Shell");
        if !(optional && value.is_null()) {
            container_config.insert(key.to_owned(), value);
        }
    }
    let parent = images
        .iter()
        .filter(|other| image.is_built_on(other))
        .max_by_key(|other| other.history().len())
        .map_or(String::new(), |p| p.id.to_string());
    let top = |key: &str| image.config.get(key).cloned().unwrap_or_else(|| json!(""));
    Ok(json!({
        "Id": image.id.to_string(),
        "RepoTags": image.tags.iter().map(|t| t.familiar()).collect::<Vec<_>>(),
        "RepoDigests": image
            .tags
            .iter()
            .map(|t| format!("{}@{}", t.familiar_name(), image.manifest))
            .collect::<std::collections::BTreeSet<_>>(),
        "Parent": parent,
        "Comment": "",
        "Created": top("created"),
        "DockerVersion": "",
        "Author": top("author"),
        "Config": container_config,
        "Architecture": top("architecture"),
        "Os": top("os"),
        "Size": image.size(store)?,
        "GraphDriver": {"Data": null, "Name": "bld"},
        "RootFS": {
            "Type": "layers",
            "Layers": image
                .config
                .get("rootfs")
                .and_then(|r| r.get("diff_ids"))
                .cloned()
                .unwrap_or_else(|| json!([])),
        },
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    }))
}

/// `bld image inspect`: every image found is printed; then each one not found is an error.
pub(crate) fn inspect(args: InspectArgs, store: &std::path::Path) -> Result<(), Failure> {
    let store = Store::open(store)?;
    let images = local_images(&store)?;
    let mut objects = Vec::new();
    let mut missing = Vec::new();
    for text in &args.images {
        match find(&images, text) {
            Ok((image, _)) => objects.push(inspect_object(&store, image, &images)?),
            Err(e) => missing.push(e),
        }
    }
    match &args.format {
        Some(format) => {
            print_formatted(&objects, format, None)?;
        }
        None if !objects.is_empty() || missing.is_empty() => {
            println!(
                "{}",
                serde_json::to_string_pretty(&objects).internal_fault()?
            );
        }
        None => {}
    }
    Failure::all(missing, "; ")
}

/// Docker's column titles for `bld history --format 'table …'`.
const HEADERS: &[(&str, &str)] = &[
    ("Comment", "COMMENT"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("CreatedSince", "CREATED"),
    ("ID", "IMAGE"),
    ("Size", "SIZE"),
];

/// `bld image history`: newest entry first.
pub(crate) fn history(args: HistoryArgs, store: &std::path::Path) -> Result<(), Failure> {
    let store = Store::open(store)?;
    let images = local_images(&store)?;
    let (image, _) = find(&images, &args.image)?;
    let entries = image.history();
    // Which images end at which history entry: the image itself at the last one, the images
    // it is built on at theirs.
    let id_at = |index: usize| -> Option<&LocalImage> {
        if index + 1 == entries.len() {
            return Some(image);
        }
        images
            .iter()
            .find(|other| image.is_built_on(other) && other.history().len() == index + 1)
    };
    // Entries that are not `empty_layer` take the layers in order.
    let mut layers = image.layers.iter();
    let mut objects = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let text = |key: &str| entry.get(key).and_then(Value::as_str).unwrap_or_default();
        let empty = entry
            .get("empty_layer")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let size = match if empty { None } else { layers.next() } {
            Some(layer) => bld_oci::content_size(&store, layer)?,
            None => 0,
        };
        let epoch = super::parse_rfc3339(text("created"));
        let id = match id_at(index) {
            Some(owner) if args.no_trunc => owner.id.to_string(),
            Some(owner) => owner.short_id(),
            None => "<missing>".to_owned(),
        };
        objects.push(json!({
            "Comment": text("comment"),
            "CreatedAt": created_at(epoch),
            "CreatedBy": text("created_by"),
            "CreatedSince": created_since(epoch),
            "ID": id,
            "Size": human_size(size),
        }));
    }
    objects.reverse();
    if args.quiet {
        for object in &objects {
            println!("{}", object["ID"].as_str().unwrap_or_default());
        }
        return Ok(());
    }
    if let Some(format) = &args.format
        && print_formatted(&objects, format, Some(HEADERS))?
    {
        return Ok(());
    }
    let mut table = vec![
        ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for object in &objects {
        let field = |key: &str| object[key].as_str().unwrap_or_default().to_owned();
        let created_by = field("CreatedBy").replace(['\t', '\n'], " ");
        table.push(vec![
            field("ID"),
            field("CreatedSince"),
            if args.no_trunc {
                created_by
            } else {
                ellipsis(&created_by, 45)
            },
            field("Size"),
            field("Comment"),
        ]);
    }
    print_table(&table);
    Ok(())
}
