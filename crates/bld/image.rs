//! The image lifecycle on the local store, as Docker's commands present it: `bld images`,
//! `image inspect`, `history`, `tag`, `rmi`, `image prune`/`gc`, `save`, `load`.
//!
//! An image is a manifest kept in the store (`Store::images`) or named by a tag; its IMAGE ID
//! is its config's digest, as in Docker. An image is built on another (its parent) when the
//! other's layers and history are a strict prefix of its own; an image something is built on
//! stays in the store, untagged, until nothing is.

mod archive;
mod docker_json;
mod inspect;
mod list;
mod pull;
mod push;
mod remove;
mod template;
mod transfer;

use std::collections::BTreeMap;

use bld_core::{Digest, ImageReference};
use bld_store::Store;
use serde_json::{Map, Value};

use crate::{Classified, Failure};

pub(crate) use template::Fields;

pub(crate) use archive::{LoadArgs, SaveArgs, load, save};
pub(crate) use inspect::{HistoryArgs, InspectArgs, history, inspect};
pub(crate) use list::{ImagesArgs, images};
pub(crate) use pull::{PullArgs, pull};
pub(crate) use push::{PushArgs, push, push_manifest_as, push_one};
pub(crate) use remove::{GcArgs, PruneArgs, RmiArgs, TagArgs, gc, prune, rmi, tag};

/// An image in the local store.
pub(crate) struct LocalImage {
    pub(crate) manifest: Digest,
    /// The config's digest: the IMAGE ID.
    pub(crate) id: Digest,
    pub(crate) config: Map<String, Value>,
    /// The layers' blob digests, bottom first.
    pub(crate) layers: Vec<Digest>,
    /// Tags naming it, sorted.
    pub(crate) tags: Vec<ImageReference>,
    /// `name@digest` of what registries served for it (Docker's `RepoDigests`), sorted.
    pub(crate) repo_digests: Vec<ImageReference>,
}

impl LocalImage {
    /// The first 12 hex digits of the ID, as Docker shows it.
    pub(crate) fn short_id(&self) -> String {
        self.id.hex()[..12].to_owned()
    }

    fn diff_ids(&self) -> Vec<&Value> {
        self.config
            .get("rootfs")
            .and_then(|r| r.get("diff_ids"))
            .and_then(|d| d.as_array())
            .map(|d| d.iter().collect())
            .unwrap_or_default()
    }

    pub(crate) fn history(&self) -> Vec<&Map<String, Value>> {
        self.config
            .get("history")
            .and_then(|h| h.as_array())
            .map(|h| h.iter().filter_map(|e| e.as_object()).collect())
            .unwrap_or_default()
    }

    /// Whether this image is built on `other`: `other`'s layers and history are a strict
    /// prefix of this image's.
    pub(crate) fn is_built_on(&self, other: &LocalImage) -> bool {
        let (mine, theirs) = (self.history(), other.history());
        let (my_layers, their_layers) = (self.diff_ids(), other.diff_ids());
        !theirs.is_empty()
            && theirs.len() < mine.len()
            && mine.starts_with(&theirs)
            && my_layers.starts_with(&their_layers)
    }

    /// `created` of the config, in seconds since 1970.
    pub(crate) fn created(&self) -> Option<i64> {
        self.config
            .get("created")
            .and_then(|c| c.as_str())
            .and_then(parse_rfc3339)
    }

    /// The sum of its layers' content sizes: Docker's `Size` (see `bld_oci::content_size`).
    pub(crate) fn size(&self, store: &Store) -> Result<u64, Failure> {
        let mut total = 0;
        for layer in &self.layers {
            total += bld_oci::content_size(store, layer)?;
        }
        Ok(total)
    }
}

/// Every image in the store (kept, or named by a tag), with its tags, newest first.
pub(crate) fn local_images(store: &Store) -> Result<Vec<LocalImage>, Failure> {
    let mut tags: BTreeMap<Digest, Vec<ImageReference>> = BTreeMap::new();
    let mut repo_digests: BTreeMap<Digest, Vec<ImageReference>> = BTreeMap::new();
    for (name, manifest) in store.tags()? {
        // Tags are written normalized; one that no longer parses is skipped, and one an earlier
        // bld wrote short (`app:1`) is renamed to its normalized name.
        let Ok(reference) = ImageReference::parse(&name) else {
            continue;
        };
        let normalized = reference.to_string();
        if normalized != name && store.get_tag(&normalized)?.is_none() {
            store.put_tag(&normalized, &manifest)?;
            store.remove_tag(&name)?;
        }
        // `name@digest` records are what registries served (a pull's `RepoDigests`), not tags.
        let records = if reference.digest.is_some() {
            &mut repo_digests
        } else {
            &mut tags
        };
        records.entry(manifest).or_default().push(reference);
    }
    for damaged in store.damaged_tags()? {
        eprintln!(
            "warning: skipping the tag `{damaged}`: its record names no image; remove it with `bld rmi {damaged}`"
        );
    }
    let mut manifests = store.images()?;
    manifests.extend(tags.keys().chain(repo_digests.keys()).copied());
    manifests.sort();
    manifests.dedup();
    let mut images = Vec::with_capacity(manifests.len());
    for manifest in manifests {
        let (parsed, config) = match bld_oci::read_image(store, &manifest) {
            Ok(image) => image,
            Err(e) => {
                let names: Vec<String> = tags
                    .get(&manifest)
                    .map(|t| t.iter().map(ImageReference::familiar).collect())
                    .unwrap_or_default();
                eprintln!(
                    "warning: skipping image {manifest}{}: {e}",
                    if names.is_empty() {
                        String::new()
                    } else {
                        format!(" ({}; remove it with `bld rmi`)", names.join(", "))
                    }
                );
                continue;
            }
        };
        let id: Digest = parsed
            .config()
            .digest()
            .to_string()
            .parse()
            .internal_fault()?;
        let layers = parsed
            .layers()
            .iter()
            .map(|l| l.digest().to_string().parse::<Digest>())
            .collect::<Result<Vec<_>, _>>()
            .internal_fault()?;
        let mut names = tags.remove(&manifest).unwrap_or_default();
        names.sort();
        images.push(LocalImage {
            manifest,
            id,
            config,
            layers,
            tags: names,
            repo_digests: repo_digests.remove(&manifest).unwrap_or_default(),
        });
    }
    images.sort_by(|a, b| {
        b.created()
            .cmp(&a.created())
            .then_with(|| a.tags.first().cmp(&b.tags.first()))
            .then_with(|| a.manifest.cmp(&b.manifest))
    });
    Ok(images)
}

/// How a command line named an image.
pub(crate) enum Named {
    /// By `name[:tag]`: the tag as normalized.
    Tag(ImageReference),
    /// By ID (prefix), `sha256:` digest (of the config or manifest) or `name@digest`.
    Id,
}

/// Finds the image `text` names: a tag (`app`, `app:1`), `name@sha256:…` (a manifest digest),
/// an IMAGE ID or a prefix of one, or a full config or manifest digest.
pub(crate) fn find<'a>(
    images: &'a [LocalImage],
    text: &str,
) -> Result<(&'a LocalImage, Named), Failure> {
    let no_such = || Failure::user(format!("no such image: `{text}`"));
    let hex = text.strip_prefix("sha256:").unwrap_or(text);
    let is_hex = !hex.is_empty() && hex.len() <= 64 && hex.chars().all(|c| c.is_ascii_hexdigit());
    let parsed = ImageReference::parse(text);
    if let Ok(reference) = &parsed {
        if let Some(digest) = &reference.digest {
            let image = images
                .iter()
                .find(|i| i.manifest == *digest || i.repo_digests.contains(reference))
                .ok_or_else(no_such)?;
            return Ok((image, Named::Id));
        }
        if let Some(image) = images.iter().find(|i| i.tags.contains(reference)) {
            return Ok((image, Named::Tag(reference.clone())));
        }
    }
    if !is_hex {
        // Not a tag here and not an ID: no such image, or say why it is not a reference.
        parsed?;
        return Err(no_such());
    }
    let matching: Vec<&LocalImage> = images
        .iter()
        .filter(|i| i.id.hex().starts_with(hex) || (hex.len() == 64 && i.manifest.hex() == hex))
        .collect();
    match matching.as_slice() {
        [] => Err(no_such()),
        [image] => Ok((image, Named::Id)),
        several if several.iter().all(|i| i.id == several[0].id) => Ok((several[0], Named::Id)),
        _ => Err(Failure::user(format!(
            "`{text}` is the start of several image IDs: give more digits"
        ))),
    }
}

/// The image `text` names, as [`find`], by manifest digest (for `bld run`, `FROM`).
pub(crate) fn resolve(store: &Store, text: &str) -> Result<Digest, Failure> {
    // A tag is the common case: look it up without reading every image.
    if let Ok(reference) = ImageReference::parse(text)
        && reference.digest.is_none()
        && let Some(manifest) = store.get_tag(&reference.to_string())?
    {
        return Ok(manifest);
    }
    let images = local_images(store)?;
    Ok(find(&images, text)?.0.manifest)
}

/// Seconds since 1970 of an RFC 3339 time (`2024-05-01T10:00:00.5+02:00`).
pub(crate) fn parse_rfc3339(text: &str) -> Option<i64> {
    let number = |s: &str| s.parse::<i64>().ok();
    let (date, time) = text.split_once(['T', 't', ' '])?;
    let mut ymd = date.splitn(3, '-');
    let (year, month, day) = (
        number(ymd.next()?)?,
        number(ymd.next()?)?,
        number(ymd.next()?)?,
    );
    let zone_at = time.find(['Z', 'z', '+', '-']).unwrap_or(time.len());
    let (clock, zone) = time.split_at(zone_at);
    let clock = clock.split('.').next()?;
    let mut hms = clock.splitn(3, ':');
    let (hour, minute, second) = (
        number(hms.next()?)?,
        number(hms.next()?)?,
        number(hms.next()?)?,
    );
    let offset = match zone {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let (h, m) = zone[1..].split_once(':')?;
            sign * (number(h)? * 3600 + number(m)? * 60)
        }
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// How long ago `epoch` was, as Docker words it ("2 minutes ago", "56 years ago").
pub(crate) fn created_since(epoch: Option<i64>) -> String {
    let Some(epoch) = epoch else {
        return "N/A".to_owned();
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    format!(
        "{} ago",
        human_duration(u64::try_from(now - epoch).unwrap_or(0))
    )
}

/// A duration as Docker words it ("Less than a second", "2 minutes", "About an hour").
pub(crate) fn human_duration(seconds: u64) -> String {
    let seconds = i64::try_from(seconds).unwrap_or(i64::MAX);
    let hours = (seconds as f64 / 3600.0 + 0.5) as i64;
    match seconds {
        ..1 => "Less than a second".to_owned(),
        1 => "1 second".to_owned(),
        2..60 => format!("{seconds} seconds"),
        60..120 => "About a minute".to_owned(),
        120..3600 => format!("{} minutes", seconds / 60),
        _ if hours == 1 => "About an hour".to_owned(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", seconds / 3600 / 24 / 365),
    }
}

/// `epoch` as Docker's `CreatedAt` shows it: `2024-05-01 10:00:00 +0000 UTC`.
pub(crate) fn created_at(epoch: Option<i64>) -> String {
    match epoch {
        Some(epoch) if epoch >= 0 => {
            let text = bld_oci::rfc3339(epoch as u64);
            format!("{} +0000 UTC", text.trim_end_matches('Z').replace('T', " "))
        }
        _ => String::new(),
    }
}

/// A size in decimal units with three significant digits, as Docker shows it (`7.8MB`).
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    let rounded = |size: f64| {
        let digits = if size >= 100.0 {
            0
        } else if size >= 10.0 {
            1
        } else {
            2
        };
        format!("{size:.digits$}")
    };
    while unit + 1 < UNITS.len() && rounded(size).parse::<f64>().unwrap_or(0.0) >= 1000.0 {
        size /= 1000.0;
        unit += 1;
    }
    let text = rounded(size);
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    format!("{text}{}", UNITS[unit])
}

/// Prints each object for `--format`: `json` one object per line, `table …` as a table with
/// Docker's column titles `headers` (`None`: the command has no table), else through the
/// template (for `inspect`, `table` is text). Returns `false` for `table` alone: the caller
/// prints its default table.
///
/// `fields` says what Docker's objects are (for the wording of a missing field's error); a
/// template that fails is an error as Docker words it (`template parsing error: …`).
pub(crate) fn print_formatted(
    objects: &[Value],
    format: &str,
    headers: Option<&[(&str, &str)]>,
    fields: template::Fields,
) -> Result<bool, Failure> {
    let failed = |e: String| Failure::user(format!("template parsing error: {e}"));
    if format == "json" {
        for object in objects {
            println!("{object}");
        }
        return Ok(true);
    }
    // `inspect` has no tables: there, as in Docker, `table …` is text like any other.
    if let Some((table, headers)) = template::Table::parse(format).zip(headers) {
        let table = table.map_err(|e| Failure::user(format!("--format: {e}")))?;
        if table.is_default() {
            return Ok(false);
        }
        for line in table.render(objects, headers, fields).map_err(failed)? {
            println!("{line}");
        }
        return Ok(true);
    }
    let template =
        template::Template::parse(format).map_err(|e| Failure::user(format!("--format: {e}")))?;
    for object in objects {
        println!("{}", template.render(object, fields).map_err(failed)?);
    }
    Ok(true)
}

/// Prints rows as Docker 20.10's tables do: columns at least 10 wide, 3 spaces apart.
pub(crate) fn print_table(rows: &[Vec<String>]) {
    let text: Vec<String> = rows.iter().map(|row| row.join("\t")).collect();
    for line in template::align_columns(&text.join("\n")) {
        println!("{}", line.trim_end());
    }
}

/// Prints `objects` as a table of `columns` (each a key of the objects and Docker's title),
/// in order.
pub(crate) fn print_object_table(objects: &[Value], columns: &[(&str, &str)]) {
    let mut table = vec![
        columns
            .iter()
            .map(|(_, title)| (*title).to_owned())
            .collect(),
    ];
    for object in objects {
        table.push(
            columns
                .iter()
                .map(|(key, _)| object[*key].as_str().unwrap_or_default().to_owned())
                .collect(),
        );
    }
    print_table(&table);
}

/// Cuts `text` to `width` characters, ending with `…` when cut (Docker's ellipsis).
pub(crate) fn ellipsis(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        text.chars().take(width - 1).chain(['…']).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_docker_prints_them() {
        for (bytes, text) in [
            (0, "0B"),
            (999, "999B"),
            (1000, "1kB"),
            (1234, "1.23kB"),
            (7_812_345, "7.81MB"),
            (77_900_000, "77.9MB"),
            (128_000_000, "128MB"),
            (999_999, "1MB"),
            (1_500_000_000, "1.5GB"),
        ] {
            assert_eq!(human_size(bytes), text, "{bytes}");
        }
    }

    #[test]
    fn rfc3339_times_parse_with_zones_and_fractions() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2024-02-29T12:00:00Z"), Some(1_709_208_000));
        assert_eq!(
            parse_rfc3339("2024-02-29T14:00:00.123456789+02:00"),
            Some(1_709_208_000)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn durations_read_as_docker_words_them() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64;
        assert_eq!(created_since(Some(now - 130)), "2 minutes ago");
        assert_eq!(created_since(Some(now - 3 * 3600)), "3 hours ago");
        assert_eq!(created_since(Some(now - 10 * 86_400)), "10 days ago");
        assert!(created_since(Some(0)).ends_with("years ago"));
        assert_eq!(created_at(Some(0)), "1970-01-01 00:00:00 +0000 UTC");
    }
}
