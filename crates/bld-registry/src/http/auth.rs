//! Authorization: the credentials or bearer token a registry's `WWW-Authenticate` challenge
//! asks for, and `bld login`'s check.

use ureq::http::StatusCode;

use super::{Endpoint, Response, header};
use crate::{MAX_MANIFEST, RegistryError};

impl Endpoint {
    /// Checks the endpoint's credentials against the registry (`GET /v2/`, as `docker login`).
    pub fn check_login(&self) -> Result<(), RegistryError> {
        let response = self.get_path("/v2/", None)?;
        match response.status() {
            StatusCode::OK => Ok(()),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(self.failed("unauthorized: incorrect username or password".to_owned()))
            }
            status => Err(self.failed(format!(
                "the registry answered the login with status {}",
                status.as_u16()
            ))),
        }
    }

    /// Sends a request (`send` builds it with an `Authorization` header, or none) with the
    /// authorization the registry's challenge asked for once it asked: basic credentials, or a
    /// bearer token for the challenge's scope fetched with them (or anonymously). A new
    /// challenge (a push after pulls wants a wider scope) is answered once more.
    pub(super) fn authorized(
        &self,
        send: impl Fn(Option<&str>) -> Result<Response, ureq::Error>,
    ) -> Result<Response, RegistryError> {
        let send = |authorization: Option<&str>| self.retrying(|| send(authorization));
        let known = self
            .authorization
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let response = send(known.as_deref())?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = header(&response, "www-authenticate");
        let authorization = if challenge.starts_with("Basic") {
            match &self.credentials {
                Some(credentials) => credentials.basic(),
                None => return Ok(response),
            }
        } else if challenge.starts_with("Bearer ") {
            format!("Bearer {}", self.bearer_token(&challenge)?)
        } else {
            return Ok(response);
        };
        if known.as_ref() == Some(&authorization) {
            return Ok(response);
        }
        *self.authorization.lock().unwrap_or_else(|p| p.into_inner()) = Some(authorization.clone());
        send(Some(&authorization))
    }

    /// The anonymous token a `Bearer realm="…",service="…",scope="…"` challenge names.
    fn bearer_token(&self, challenge: &str) -> Result<String, RegistryError> {
        let denied = || self.failed(format!("access to {} is denied", self.repository));
        let params = challenge_params(challenge.strip_prefix("Bearer ").ok_or_else(denied)?);
        let param = |key: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.clone())
        };
        let realm = param("realm").ok_or_else(denied)?;
        let mut response = self
            .retrying(|| {
                let mut request = self.agent.get(&realm);
                if let Some(credentials) = &self.credentials {
                    request = request.header("Authorization", credentials.basic());
                }
                if let Some(service) = param("service") {
                    request = request.query("service", service);
                }
                // Several scopes (a mount's two repositories) go as a parameter each.
                for scope in param("scope").iter().flat_map(|s| s.split_whitespace()) {
                    request = request.query("scope", scope);
                }
                request.call()
            })
            .map_err(|e| self.failed(format!("the token service {realm}: {e}")))?;
        if response.status() != StatusCode::OK {
            return Err(match (&self.credentials, response.status()) {
                (Some(_), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => self.failed(
                    "unauthorized: incorrect username or password (the token service refused them)"
                        .to_owned(),
                ),
                _ => denied(),
            });
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_MANIFEST)
            .read_to_vec()
            .map_err(|e| self.failed(format!("the token service {realm} failed: {e}")))?;
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        ["token", "access_token"]
            .iter()
            .find_map(|k| value.get(*k).and_then(|t| t.as_str()).map(str::to_owned))
            .ok_or_else(denied)
    }
}

/// The `key=value` pairs of a challenge (`realm="…",service="…",scope="repository:a:pull,push"`):
/// values quoted or not, commas inside quotes kept, `\"` unescaped (RFC 7235's auth-params).
fn challenge_params(text: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ',' || c.is_whitespace()).is_some() {}
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ','))
            .collect::<String>()
            .trim()
            .to_owned();
        if key.is_empty() {
            return params;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'=').is_some() {
            if chars.next_if_eq(&'"').is_some() {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => value.extend(chars.next()),
                        c => value.push(c),
                    }
                }
            } else {
                value = std::iter::from_fn(|| chars.next_if(|c| *c != ','))
                    .collect::<String>()
                    .trim()
                    .to_owned();
            }
        }
        params.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn challenges_keep_commas_inside_quotes() {
        let params = super::challenge_params(
            r#"realm="https://auth.example/token",service=registry.example, scope="repository:team/app:pull,push",error="a \"b\"""#,
        );
        let pairs: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("realm", "https://auth.example/token"),
                ("service", "registry.example"),
                ("scope", "repository:team/app:pull,push"),
                ("error", "a \"b\""),
            ]
        );
    }
}
