//! `bld search`: repositories of Docker Hub (its search) or of a registry (`HOST:PORT/TERM`:
//! its catalog), in Docker's table, `--format` and `--filter`.

use bld_registry::Found;
use clap::Args;
use serde_json::{Value, json};

use crate::Failure;
use crate::image::{Fields, ellipsis, print_formatted, print_object_table};

/// Arguments of `bld search`.
#[derive(Args)]
pub(crate) struct SearchArgs {
    /// What to look for: a word of Docker Hub's search, or `HOST[:PORT]/WORD` for the
    /// repositories of that registry whose names contain WORD.
    #[arg(value_name = "TERM")]
    term: String,
    /// Show at most this many results.
    #[arg(long, default_value_t = 25, value_name = "N")]
    limit: usize,
    /// Do not cut descriptions short.
    #[arg(long)]
    no_trunc: bool,
    /// Only results matching: `is-official=true|false`, `is-automated=true|false`, `stars=N`
    /// (at least N stars); repeatable.
    #[arg(long, short, value_name = "FILTER")]
    filter: Vec<String>,
    /// A Go template (`{{.Name}}`, `{{.Description}}`, `{{.StarCount}}`, `{{.IsOfficial}}`,
    /// `{{.IsAutomated}}`), `table …` or `json`.
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
}

/// Docker's column titles for `--format 'table …'`.
const HEADERS: &[(&str, &str)] = &[
    ("Name", "NAME"),
    ("Description", "DESCRIPTION"),
    ("StarCount", "STARS"),
    ("IsOfficial", "OFFICIAL"),
    ("IsAutomated", "AUTOMATED"),
];

/// A filter of `--filter`.
enum Filter {
    Official(bool),
    Automated(bool),
    Stars(u64),
}

impl Filter {
    fn parse(text: &str) -> Result<Filter, Failure> {
        let bad = || {
            Failure::user(format!(
                "invalid filter `{text}`: expected is-official=true|false, \
                 is-automated=true|false or stars=N"
            ))
        };
        let (key, value) = text.split_once('=').ok_or_else(bad)?;
        let boolean = || value.parse::<bool>().map_err(|_| bad());
        match key {
            "is-official" => Ok(Filter::Official(boolean()?)),
            "is-automated" => Ok(Filter::Automated(boolean()?)),
            "stars" => value.parse().map(Filter::Stars).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }

    fn keeps(&self, found: &Found) -> bool {
        match self {
            Filter::Official(wanted) => found.official == *wanted,
            Filter::Automated(wanted) => found.automated == *wanted,
            Filter::Stars(at_least) => found.stars >= *at_least,
        }
    }
}

/// `bld search`.
pub(crate) fn search(args: SearchArgs) -> Result<(), Failure> {
    let filters = args
        .filter
        .iter()
        .map(|f| Filter::parse(f))
        .collect::<Result<Vec<_>, _>>()?;
    let found = bld_registry::search(&args.term, args.limit)?;
    let objects: Vec<Value> = found
        .iter()
        .filter(|f| filters.iter().all(|filter| filter.keeps(f)))
        .map(|f| {
            let description = if args.no_trunc {
                f.description.clone()
            } else {
                ellipsis(&f.description, 45)
            };
            json!({
                "Name": f.name,
                "Description": description,
                "StarCount": f.stars.to_string(),
                "IsOfficial": if f.official { "[OK]" } else { "" },
                "IsAutomated": if f.automated { "[OK]" } else { "" },
            })
        })
        .collect();
    if let Some(format) = &args.format
        && print_formatted(
            &objects,
            format,
            Some(HEADERS),
            Fields::Struct("*formatter.searchContext"),
        )?
    {
        return Ok(());
    }
    print_object_table(
        &objects,
        &[
            ("Name", "NAME"),
            ("Description", "DESCRIPTION"),
            ("StarCount", "STARS"),
            ("IsOfficial", "OFFICIAL"),
        ],
    );
    Ok(())
}
