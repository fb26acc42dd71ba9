//! Ports a container publishes on the host (`docker run -p`).

use serde::{Deserialize, Serialize};

use super::ContainerError;
use crate::Failure;

/// A published port: `HOST_IP:HOST_PORT->CONTAINER_PORT/PROTOCOL`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    /// The host address (`0.0.0.0`: every one).
    pub host_ip: String,
    /// The host port.
    pub host_port: u16,
    /// The container's port.
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
}

impl Port {
    /// `-p` as Docker reads it: `[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]` (without a
    /// host port, the same port on the host).
    pub fn parse(text: &str) -> Result<Port, ContainerError> {
        let bad = |why: &str| {
            ContainerError::from(Failure::user(format!("invalid publish `{text}`: {why}")))
        };
        let (ports, protocol) = text.split_once('/').unwrap_or((text, "tcp"));
        if !matches!(protocol, "tcp" | "udp") {
            return Err(bad("the protocol is tcp or udp"));
        }
        let parts: Vec<&str> = ports.rsplitn(3, ':').collect();
        let number = |part: &str| {
            part.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad(&format!("`{part}` is not a port number")))
        };
        let (host_ip, host_port, container_port) = match parts.as_slice() {
            [container] => ("0.0.0.0", number(container)?, number(container)?),
            [container, host] => ("0.0.0.0", number(host)?, number(container)?),
            [container, host, ip] => (*ip, number(host)?, number(container)?),
            _ => {
                return Err(bad(
                    "expected [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]",
                ));
            }
        };
        Ok(Port {
            host_ip: if host_ip.is_empty() {
                "0.0.0.0"
            } else {
                host_ip
            }
            .to_owned(),
            host_port,
            container_port,
            protocol: protocol.to_owned(),
        })
    }
}

impl std::fmt::Display for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}->{}/{}",
            self.host_ip, self.host_port, self.container_port, self.protocol
        )
    }
}
