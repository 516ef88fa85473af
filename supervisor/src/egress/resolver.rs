//! Name resolution for the egress proxy.
//!
//! The proxy, not Chrome, resolves every name a page uses, so the address that is checked
//! is the address that is connected to. By default the system's configuration is used
//! (`/etc/resolv.conf`, `/etc/hosts`); `--dns-server` points it at one server instead.

use std::net::{IpAddr, SocketAddr};

use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ProtocolConfig, ResolverConfig,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::{Resolver as Hickory, TokioResolver};

#[derive(Debug, thiserror::Error)]
#[error("cannot set up name resolution: {0}")]
pub struct ResolverError(String);

#[derive(Clone)]
pub struct Resolver {
    inner: TokioResolver,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolver")
    }
}

impl Resolver {
    /// Uses the system's resolver configuration, or only `server` when given.
    pub fn new(server: Option<SocketAddr>) -> Result<Resolver, ResolverError> {
        let builder = match server {
            None => Hickory::builder_tokio().map_err(|e| ResolverError(e.to_string()))?,
            Some(server) => {
                let connections = [ProtocolConfig::Udp, ProtocolConfig::Tcp]
                    .into_iter()
                    .map(|protocol| {
                        let mut connection = ConnectionConfig::new(protocol);
                        connection.port = server.port();
                        connection
                    })
                    .collect();
                let name_server = NameServerConfig::new(server.ip(), true, connections);
                let config = ResolverConfig::from_name_servers(vec![name_server]);
                Hickory::builder_with_config(config, TokioRuntimeProvider::default())
            }
        };
        let inner = builder.build().map_err(|e| ResolverError(e.to_string()))?;
        Ok(Resolver { inner })
    }

    pub async fn lookup(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        let answer = self
            .inner
            .lookup_ip(host)
            .await
            .map_err(|e| e.to_string())?;
        Ok(answer.iter().collect())
    }
}
