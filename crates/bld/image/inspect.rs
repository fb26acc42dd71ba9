//! `bld image inspect` (Docker's JSON shape) and `bld image history` / `bld history`.

use bld_store::Store;
use clap::Args;
use serde_json::{Map, Value, json};

use super::{
    Fields, LocalImage, created_at, created_since, docker_json, ellipsis, find, human_size,
    local_images, print_formatted, print_table,
};
use crate::Failure;

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

/// `container.Config` as Docker shows an image's `config` (or `container_config`): every
/// field, in order, the ones the image leaves out at their zero values.
fn container_config(config: Option<&Value>) -> Value {
    let config = config.and_then(Value::as_object);
    let mut out = Map::new();
    for (name, zero) in docker_json::container_config_fields() {
        let value = config.and_then(|c| c.get(name)).cloned();
        out.insert(name.to_owned(), value.unwrap_or(zero));
    }
    Value::Object(out)
}

/// The object `docker image inspect` prints for an image, as Docker 20.10 shows an image
/// built with BuildKit or loaded: no `Parent` (Docker knows one only for images built by its
/// classic builder), `RepoDigests` what registries served for it on a pull or push,
/// `Comment` the config's or else its last history entry's (as Docker
/// does), `Container`/`ContainerConfig` the config's (empty for a BuildKit or bld image).
/// Every field of Docker's struct is here, so a template can name it; the JSON leaves out
/// the `omitempty` ones that are empty (see `docker_json`).
fn inspect_object(store: &Store, image: &LocalImage) -> Result<Value, Failure> {
    let top = |key: &str| image.config.get(key).cloned().unwrap_or_else(|| json!(""));
    let comment = image
        .config
        .get("comment")
        .filter(|c| c.as_str().is_some_and(|c| !c.is_empty()))
        .or_else(|| image.history().last().and_then(|h| h.get("comment")))
        .cloned()
        .unwrap_or_else(|| json!(""));
    let rootfs = image.config.get("rootfs");
    let size = image.size(store)?;
    Ok(json!({
        "Id": image.id.to_string(),
        "RepoTags": image.tags.iter().map(|t| t.familiar()).collect::<Vec<_>>(),
        "RepoDigests": image.repo_digests.iter().map(bld_core::ImageReference::familiar).collect::<Vec<_>>(),
        "Parent": "",
        "Comment": comment,
        "Created": image
            .config
            .get("created")
            .cloned()
            .unwrap_or_else(|| json!("0001-01-01T00:00:00Z")),
        "Container": top("container"),
        "ContainerConfig": container_config(image.config.get("container_config")),
        "DockerVersion": top("docker_version"),
        "Author": top("author"),
        "Config": container_config(image.config.get("config")),
        "Architecture": top("architecture"),
        "Variant": top("variant"),
        "Os": top("os"),
        "OsVersion": top("os.version"),
        "Size": size,
        "VirtualSize": size,
        "GraphDriver": {"Data": null, "Name": "bld"},
        "RootFS": {
            "Type": rootfs.and_then(|r| r.get("type")).cloned().unwrap_or_else(|| json!("layers")),
            "Layers": rootfs.and_then(|r| r.get("diff_ids")).cloned().unwrap_or_else(|| json!([])),
            "BaseLayer": "",
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
            Ok((image, _)) => objects.push(inspect_object(&store, image)?),
            Err(e) => missing.push(e),
        }
    }
    match &args.format {
        Some(format) => {
            print_formatted(&objects, format, None, Fields::Map)?;
        }
        None if !objects.is_empty() || missing.is_empty() => {
            println!(
                "{}",
                docker_json::to_json(&Value::Array(objects), Some("    "))
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
    // Only the image itself has an ID: as in Docker for an image built with BuildKit or
    // loaded, which has no parent, the entries below it are `<missing>`.
    let id_at = |index: usize| (index + 1 == entries.len()).then_some(image);
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
        && print_formatted(
            &objects,
            format,
            Some(HEADERS),
            Fields::Struct("*image.historyContext"),
        )?
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
