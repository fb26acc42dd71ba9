//! `bld images` (`bld image ls`): `REPOSITORY  TAG  IMAGE ID  CREATED  SIZE`.

use bld_store::Store;
use clap::Args;
use serde_json::json;

use crate::Failure;

use super::{
    Fields, LocalImage, created_at, created_since, human_size, local_images, print_formatted,
    print_table,
};

/// Arguments of `bld images`.
#[derive(Args)]
pub(crate) struct ImagesArgs {
    /// Only images whose reference matches `REPOSITORY[:TAG]` (`*` matches within a path
    /// component: `team/*`, `app:1.*`).
    #[arg(value_name = "REPOSITORY[:TAG]")]
    reference: Option<String>,
    /// Also images that others are built on and that have no tag.
    #[arg(long, short)]
    all: bool,
    /// Show each image's manifest digest.
    #[arg(long)]
    digests: bool,
    /// Do not shorten IMAGE ID.
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Print only image IDs.
    #[arg(long, short)]
    quiet: bool,
    /// `json`: one JSON object per image and tag, one per line; a template such as
    /// `{{.Repository}}:{{.Tag}}`; or `table` and a template, with a header row
    /// (`table {{.Repository}}\t{{.Tag}}`).
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
}

/// `*` matches any run of characters but `/`; everything else matches itself.
fn glob_matches(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(tail) = text.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len())
                .take_while(|&i| !tail[..i].contains('/'))
                .filter(|&i| tail.is_char_boundary(i))
                .any(|i| glob_matches(rest, &tail[i..]))
        }
    }
}

/// Whether `repository`/`tag` (familiar forms) match the filter `REPOSITORY[:TAG]`.
fn reference_matches(filter: &str, repository: &str, tag: &str) -> bool {
    let (repo_pattern, tag_pattern) = bld_core::split_tag(filter);
    let full_repo = bld_core::ImageReference::parse(repository)
        .map(|r| r.name)
        .unwrap_or_default();
    (glob_matches(repo_pattern, repository) || glob_matches(repo_pattern, &full_repo))
        && tag_pattern.is_none_or(|t| glob_matches(t, tag))
}

/// Docker's column titles for `bld images --format 'table …'`.
const HEADERS: &[(&str, &str)] = &[
    ("Containers", "CONTAINERS"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedSince", "CREATED"),
    ("Digest", "DIGEST"),
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("SharedSize", "SHARED SIZE"),
    ("Size", "SIZE"),
    ("Tag", "TAG"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("VirtualSize", "VIRTUAL SIZE"),
];

/// The rows `bld images` lists: each image once per tag (`<none>` for an untagged one that
/// is shown), as `(image, repository, tag)`.
fn listed<'a>(
    args: &ImagesArgs,
    images: &'a [LocalImage],
) -> Vec<(&'a LocalImage, String, String)> {
    let mut rows = Vec::new();
    for image in images {
        if image.tags.is_empty() {
            let built_on = images.iter().any(|other| other.is_built_on(image));
            if args.reference.is_none() && (args.all || !built_on) {
                rows.push((image, "<none>".into(), "<none>".into()));
            }
            continue;
        }
        for tag in &image.tags {
            let repository = tag.familiar_name().to_owned();
            let name = tag.tag.clone().unwrap_or_else(|| "<none>".into());
            if args
                .reference
                .as_deref()
                .is_none_or(|filter| reference_matches(filter, &repository, &name))
            {
                rows.push((image, repository, name));
            }
        }
    }
    rows
}

/// The object `docker images --format json` prints for each row; a damaged image is
/// reported and left out.
fn row_objects(
    store: &Store,
    rows: &[(&LocalImage, String, String)],
    id_of: &dyn Fn(&LocalImage) -> String,
) -> Vec<serde_json::Value> {
    let mut objects = Vec::with_capacity(rows.len());
    for (image, repository, tag) in rows {
        let size = match image.size(store) {
            Ok(size) => human_size(size),
            Err(e) => {
                eprintln!(
                    "warning: skipping {repository}:{tag} ({}): {e}",
                    image.short_id()
                );
                continue;
            }
        };
        objects.push(json!({
            "Containers": "N/A",
            "CreatedAt": created_at(image.created()),
            "CreatedSince": created_since(image.created()),
            "Digest": image.manifest.to_string(),
            "ID": id_of(image),
            "Repository": repository,
            "SharedSize": "N/A",
            "Size": size,
            "Tag": tag,
            "UniqueSize": "N/A",
            "VirtualSize": size,
        }));
    }
    objects
}

/// The default table: `REPOSITORY  TAG  [DIGEST]  IMAGE ID  CREATED  SIZE`.
fn print_default_table(objects: &[serde_json::Value], digests: bool) {
    let mut header = vec!["REPOSITORY", "TAG"];
    if digests {
        header.push("DIGEST");
    }
    header.extend(["IMAGE ID", "CREATED", "SIZE"]);
    let mut table = vec![header.into_iter().map(str::to_owned).collect::<Vec<_>>()];
    for object in objects {
        let field = |key: &str| object[key].as_str().unwrap_or_default().to_owned();
        let mut row = vec![field("Repository"), field("Tag")];
        if digests {
            row.push(field("Digest"));
        }
        row.extend([field("ID"), field("CreatedSince"), field("Size")]);
        table.push(row);
    }
    print_table(&table);
}

/// `bld images`.
pub(crate) fn images(args: ImagesArgs, store: &std::path::Path) -> Result<(), Failure> {
    let store = Store::open(store)?;
    let images = local_images(&store)?;
    let rows = listed(&args, &images);
    let id_of = |image: &LocalImage| {
        if args.no_trunc {
            image.id.to_string()
        } else {
            image.short_id()
        }
    };
    if args.quiet {
        for (image, _, _) in &rows {
            println!("{}", id_of(image));
        }
        return Ok(());
    }
    let objects = row_objects(&store, &rows, &id_of);
    let formatted = match args.format.as_deref() {
        Some(format) => print_formatted(
            &objects,
            format,
            Some(HEADERS),
            Fields::Struct("*formatter.imageContext"),
        )?,
        None => false,
    };
    if !formatted {
        print_default_table(&objects, args.digests);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_filters_match_repositories_and_tags() {
        assert!(reference_matches("app", "app", "1"));
        assert!(reference_matches("app:1", "app", "1"));
        assert!(!reference_matches("app:2", "app", "1"));
        assert!(reference_matches("app:1.*", "app", "1.4"));
        assert!(reference_matches("team/*", "team/api", "latest"));
        assert!(!reference_matches("team/*", "team/a/b", "latest"));
        assert!(!reference_matches("ap", "app", "1"));
        assert!(reference_matches("docker.io/library/app", "app", "1"));
        assert!(reference_matches(
            "localhost:5000/app",
            "localhost:5000/app",
            "1"
        ));
    }
}
