//! Allowed origins: what the operator configures and what a job may narrow it to.
//!
//! An origin is `scheme://host[:port]`; the port defaults to the scheme's. The host is a
//! DNS name, an IP literal, or `*.name`, which matches every subdomain of `name` (not
//! `name` itself). Names are compared in their WHATWG-canonical form (lower case, no
//! trailing dot, IDNA), so `HTTP://Example.COM.` and `http://example.com` are the same
//! origin: spellings that differ only in form must not decide whether a request passes.

use std::fmt;
use std::net::IpAddr;

use thiserror::Error;
use url::{Host, Url};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum OriginError {
    #[error("{origin:?} is not an origin of the form scheme://host[:port]")]
    Malformed { origin: String },
    #[error("{origin:?} uses scheme {scheme:?}; only http, https, ws and wss are allowed")]
    Scheme { origin: String, scheme: String },
    #[error("{origin:?} is not within any configured origin")]
    NotNarrower { origin: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    Name(String),
    Subdomains(String),
    Ip(IpAddr),
}

impl HostPattern {
    fn matches(&self, host: &Host<&str>) -> bool {
        match (self, host) {
            (HostPattern::Name(name), Host::Domain(d)) => name == d,
            (HostPattern::Subdomains(parent), Host::Domain(d)) => d
                .strip_suffix(parent.as_str())
                .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.')),
            (HostPattern::Ip(ip), Host::Ipv4(v4)) => *ip == IpAddr::V4(*v4),
            (HostPattern::Ip(ip), Host::Ipv6(v6)) => *ip == IpAddr::V6(*v6),
            _ => false,
        }
    }

    /// Whether every host `self` matches is also matched by `wider`.
    fn within(&self, wider: &HostPattern) -> bool {
        match (self, wider) {
            (a, b) if a == b => true,
            (HostPattern::Name(n), w) => w.matches(&Host::Domain(n)),
            (HostPattern::Subdomains(n), HostPattern::Subdomains(_)) => {
                wider.matches(&Host::Domain(n))
            }
            _ => false,
        }
    }
}

/// One allowed origin. `private` says whether it may reach loopback, private and
/// link-local addresses (configured with `--allow-private`) or only global ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    pub host: HostPattern,
    pub port: u16,
    pub private: bool,
}

impl Origin {
    pub fn parse(text: &str, private: bool) -> Result<Origin, OriginError> {
        let malformed = || OriginError::Malformed {
            origin: text.to_owned(),
        };
        let (wildcard, rest) = match text.split_once("://*.") {
            Some((scheme, rest)) => (true, format!("{scheme}://{rest}")),
            None => (false, text.to_owned()),
        };
        let url = Url::parse(&rest).map_err(|_| malformed())?;
        let scheme = url.scheme().to_owned();
        if !matches!(scheme.as_str(), "http" | "https" | "ws" | "wss") {
            return Err(OriginError::Scheme {
                origin: text.to_owned(),
                scheme,
            });
        }
        if !matches!(url.path(), "" | "/")
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(malformed());
        }
        let port = url.port_or_known_default().ok_or_else(malformed)?;
        let host = match url.host().ok_or_else(malformed)? {
            Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_owned();
                if name.is_empty() {
                    return Err(malformed());
                }
                if wildcard {
                    HostPattern::Subdomains(name)
                } else {
                    HostPattern::Name(name)
                }
            }
            _ if wildcard => return Err(malformed()),
            Host::Ipv4(v4) => HostPattern::Ip(v4.into()),
            Host::Ipv6(v6) => HostPattern::Ip(v6.into()),
        };
        Ok(Origin {
            scheme,
            host,
            port,
            private,
        })
    }

    /// Whether a request to `url` falls within this origin.
    pub fn matches(&self, url: &Url) -> bool {
        let Some(host) = url.host() else { return false };
        let host = match host {
            Host::Domain(d) => Host::Domain(d.trim_end_matches('.')),
            other => other,
        };
        self.scheme == url.scheme()
            && Some(self.port) == url.port_or_known_default()
            && self.host.matches(&host)
    }

    fn within(&self, wider: &Origin) -> bool {
        self.scheme == wider.scheme && self.port == wider.port && self.host.within(&wider.host)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme)?;
        match &self.host {
            HostPattern::Name(n) => write!(f, "{n}")?,
            HostPattern::Subdomains(n) => write!(f, "*.{n}")?,
            HostPattern::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]")?,
            HostPattern::Ip(ip) => write!(f, "{ip}")?,
        }
        write!(f, ":{}", self.port)
    }
}

/// The set of origins pages may reach: the configured one, or a job's narrowing of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginList {
    origins: Vec<Origin>,
}

impl OriginList {
    pub fn parse(allow: &[String], allow_private: &[String]) -> Result<OriginList, OriginError> {
        let global = allow.iter().map(|o| Origin::parse(o, false));
        let private = allow_private.iter().map(|o| Origin::parse(o, true));
        Ok(OriginList {
            origins: global.chain(private).collect::<Result<_, _>>()?,
        })
    }

    /// A job's own list: each entry must lie within a configured one, and inherits whether
    /// it may reach private addresses from the configured entries that contain it.
    pub fn narrow(&self, requested: &[String]) -> Result<OriginList, OriginError> {
        let mut origins = Vec::with_capacity(requested.len());
        for text in requested {
            let mut origin = Origin::parse(text, false)?;
            let containing: Vec<&Origin> = self
                .origins
                .iter()
                .filter(|wider| origin.within(wider))
                .collect();
            if containing.is_empty() {
                return Err(OriginError::NotNarrower {
                    origin: text.clone(),
                });
            }
            origin.private = containing.iter().any(|o| o.private);
            origins.push(origin);
        }
        Ok(OriginList { origins })
    }

    /// The allowed origin a URL falls within, preferring one that may reach private
    /// addresses.
    pub fn find(&self, url: &Url) -> Option<&Origin> {
        let mut matching = self.origins.iter().filter(|o| o.matches(url));
        let first = matching.next()?;
        Some(if first.private {
            first
        } else {
            matching.find(|o| o.private).unwrap_or(first)
        })
    }

    pub fn is_empty(&self) -> bool {
        self.origins.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Origin> {
        self.origins.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(allow: &[&str], private: &[&str]) -> OriginList {
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        OriginList::parse(&own(allow), &own(private)).unwrap()
    }

    fn allowed(list: &OriginList, url: &str) -> bool {
        list.find(&Url::parse(url).unwrap()).is_some()
    }

    #[test]
    fn default_port_and_case_and_trailing_dot_are_the_same_origin() {
        let l = list(&["https://Example.com"], &[]);
        assert!(allowed(&l, "https://example.com/x"));
        assert!(allowed(&l, "HTTPS://EXAMPLE.COM.:443/"));
        assert!(!allowed(&l, "http://example.com/"));
        assert!(!allowed(&l, "https://example.com:8443/"));
        assert!(!allowed(&l, "https://www.example.com/"));
    }

    #[test]
    fn wildcard_matches_subdomains_only() {
        let l = list(&["https://*.example.com"], &[]);
        assert!(allowed(&l, "https://a.example.com/"));
        assert!(allowed(&l, "https://a.b.example.com/"));
        assert!(!allowed(&l, "https://example.com/"));
        assert!(!allowed(&l, "https://badexample.com/"));
    }

    #[test]
    fn ip_literals_match_in_any_spelling() {
        let l = list(&[], &["http://127.0.0.1:8080", "http://[::1]:8080"]);
        assert!(allowed(&l, "http://127.1:8080/"));
        assert!(allowed(&l, "http://0x7f000001:8080/"));
        assert!(allowed(&l, "http://[0:0::1]:8080/"));
        assert!(!allowed(&l, "http://127.0.0.2:8080/"));
        assert!(
            l.find(&Url::parse("http://127.0.0.1:8080/").unwrap())
                .unwrap()
                .private
        );
    }

    #[test]
    fn userinfo_does_not_change_the_host() {
        let l = list(&["http://allowed.test"], &[]);
        assert!(!allowed(&l, "http://allowed.test@169.254.169.254/"));
    }

    #[test]
    fn rejects_malformed_origins() {
        for bad in [
            "example.com",
            "http://a/b",
            "http://u@a",
            "file:///etc",
            "http://*.1.2.3.4",
        ] {
            assert!(Origin::parse(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn job_may_only_narrow_the_configured_list() {
        let l = list(&["https://*.example.com"], &["http://127.0.0.1:9000"]);
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let narrowed = l
            .narrow(&own(&["https://a.example.com", "http://127.0.0.1:9000"]))
            .unwrap();
        assert!(allowed(&narrowed, "https://a.example.com/"));
        assert!(!allowed(&narrowed, "https://b.example.com/"));
        assert!(narrowed.iter().any(|o| o.private));
        assert!(l.narrow(&own(&["https://example.com"])).is_err());
        assert!(l.narrow(&own(&["http://127.0.0.1:9001"])).is_err());
    }
}
