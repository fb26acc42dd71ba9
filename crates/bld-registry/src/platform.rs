//! The platform an image is for, as an index names it and `--platform` asks for it.

use bld_core::host_platform;

use crate::RegistryError;

/// A platform an image is for: `OS/ARCH[/VARIANT]` (`linux/arm64/v8`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`.
    pub architecture: String,
    /// `v7`, `v8`, if any.
    pub variant: Option<String>,
}

impl Platform {
    /// This machine's.
    pub fn host() -> Platform {
        let (os, architecture) = host_platform();
        Platform {
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant: None,
        }
    }

    /// `OS/ARCH[/VARIANT]`.
    ///
    /// # Errors
    ///
    /// Not of that form.
    pub fn parse(text: &str) -> Result<Platform, RegistryError> {
        let parts: Vec<&str> = text.split('/').collect();
        match parts[..] {
            [os, architecture] | [os, architecture, _]
                if !os.is_empty() && !architecture.is_empty() =>
            {
                Ok(Platform {
                    os: os.to_owned(),
                    architecture: architecture.to_owned(),
                    variant: parts
                        .get(2)
                        .filter(|v| !v.is_empty())
                        .map(|v| (*v).to_owned()),
                })
            }
            _ => Err(RegistryError::Unsupported(format!(
                "`{text}` is not a platform: expected OS/ARCH[/VARIANT], as `linux/amd64`"
            ))),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}
