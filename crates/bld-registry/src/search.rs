//! `bld search`: Docker Hub's search (its `index.docker.io/v1/search` API) for a plain term, and
//! for `HOST[:PORT]/TERM` the repositories of that registry's catalog (`GET /v2/_catalog`)
//! whose names contain TERM, with their tags.

use bld_core::ImageReference;
use serde_json::Value;

use crate::{Endpoint, RegistryError, config};

/// Docker Hub's search API.
const HUB_SEARCH: &str = "https://index.docker.io/v1/search";

/// One repository found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// `busybox`, `user/app`, or `HOST:PORT/team/app` of another registry.
    pub name: String,
    /// Docker Hub's description; for another registry, its tags.
    pub description: String,
    /// Docker Hub's stars (0 elsewhere).
    pub stars: u64,
    /// A Docker Official Image.
    pub official: bool,
    /// Built by Docker Hub's automated builds.
    pub automated: bool,
}

/// The registry a search term names, and what to look for there: `HOST/TERM` when the first
/// component is a host (as in an image name), else Docker Hub.
fn split_term(term: &str) -> (&str, &str) {
    match term.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first, rest)
        }
        _ => ("docker.io", term),
    }
}

/// At most `limit` repositories matching `term`.
///
/// # Errors
///
/// The registry cannot be reached or refuses, or answers with something that is not a
/// search result.
pub fn search(term: &str, limit: usize) -> Result<Vec<Found>, RegistryError> {
    let (host, wanted) = split_term(term);
    if matches!(host, "docker.io" | "index.docker.io") {
        return hub(wanted, limit);
    }
    let reference = ImageReference::parse(&format!("{host}/catalog")).map_err(|e| {
        RegistryError::Unsupported(format!("`{term}` does not name a registry: {e}"))
    })?;
    let registry = Endpoint::of(&reference)?;
    let mut found = Vec::new();
    for repository in registry.catalog()? {
        if found.len() == limit {
            break;
        }
        if !repository.contains(wanted) {
            continue;
        }
        let mut tags = registry.sibling(&repository).tags().unwrap_or_default();
        tags.sort();
        found.push(Found {
            name: format!("{host}/{repository}"),
            description: if tags.is_empty() {
                String::new()
            } else {
                format!("tags: {}", tags.join(", "))
            },
            stars: 0,
            official: false,
            automated: false,
        });
    }
    Ok(found)
}

/// Docker Hub's answer for `term`.
fn hub(term: &str, limit: usize) -> Result<Vec<Found>, RegistryError> {
    let reference = ImageReference::parse("docker.io/library/search")
        .map_err(|e| RegistryError::Unsupported(e.to_string()))?;
    // Docker Hub blocked is refused here as for a pull.
    drop(Endpoint::of(&reference)?);
    let failed = |message: String| RegistryError::Registry {
        registry: "docker.io".to_owned(),
        message,
    };
    let agent = crate::tls::agent("index.docker.io", config::config()?, true)?;
    let mut response = agent
        .get(HUB_SEARCH)
        .query("q", term)
        .query("n", limit.to_string())
        .call()
        .map_err(|e| failed(format!("cannot reach Docker Hub's search: {e}")))?;
    if !response.status().is_success() {
        return Err(failed(format!(
            "the search answered with status {}",
            response.status().as_u16()
        )));
    }
    let body = response
        .body_mut()
        .with_config()
        .limit(crate::MAX_MANIFEST)
        .read_to_vec()
        .map_err(|e| failed(format!("reading the search's answer: {e}")))?;
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| failed(format!("the search's answer is not JSON: {e}")))?;
    let results = value
        .get("results")
        .and_then(Value::as_array)
        .ok_or_else(|| failed("the search's answer has no results".to_owned()))?;
    Ok(results
        .iter()
        .take(limit)
        .map(|r| Found {
            name: r["name"].as_str().unwrap_or_default().to_owned(),
            description: r["description"].as_str().unwrap_or_default().to_owned(),
            stars: r["star_count"].as_u64().unwrap_or(0),
            official: r["is_official"].as_bool().unwrap_or(false),
            automated: r["is_automated"].as_bool().unwrap_or(false),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_term_names_a_registry_as_an_image_name_does() {
        assert_eq!(super::split_term("busybox"), ("docker.io", "busybox"));
        assert_eq!(super::split_term("user/app"), ("docker.io", "user/app"));
        assert_eq!(
            super::split_term("127.0.0.1:5000/team"),
            ("127.0.0.1:5000", "team")
        );
        assert_eq!(
            super::split_term("registry.lan/app"),
            ("registry.lan", "app")
        );
        assert_eq!(super::split_term("localhost/x"), ("localhost", "x"));
    }
}
