//! Allowed origins: what the operator configures and what a job may narrow it to.
//!
//! An origin is `scheme://host[:port]`; the port defaults to the scheme's. The host is a
//! DNS name, an IP literal, or `*.name`, which matches every subdomain of `name` (not
//! `name` itself). Names are compared in their WHATWG-canonical form (lower case, IDNA,
//! without the trailing dot of a fully qualified name), so `HTTP://Example.COM.` and
//! `http://example.com` are the same origin: spellings that differ only in form must not
//! decide whether a request passes. For the same reason an origin is read by the url crate
//! as a whole, wildcard included, and never taken apart as text first.

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
        // The whole text goes through the URL parser, the wildcard label included: it is
        // `*` in whatever spelling the parser reads as one (`%2a`, a full-width asterisk,
        // `http:*.name`), exactly as it reads the hosts of the URLs this is matched with.
        let url = Url::parse(text).map_err(|_| malformed())?;
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
                let (wildcard, name) = match name.strip_prefix("*.") {
                    Some(parent) => (true, parent),
                    None => (false, name),
                };
                let name = without_root(name).ok_or_else(malformed)?.to_owned();
                if wildcard {
                    HostPattern::Subdomains(name)
                } else {
                    HostPattern::Name(name)
                }
            }
            // `*.` before an IP literal never gets here: the parser refuses such a host.
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
            Host::Domain(d) => match without_root(d) {
                Some(d) => Host::Domain(d),
                None => return false,
            },
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

/// A name without its trailing dot, the DNS root: `example.com.` and `example.com` are one
/// name. Only one dot goes; `example.com..` is not a spelling of `example.com`. `None` when
/// nothing is left.
fn without_root(name: &str) -> Option<&str> {
    Some(name.strip_suffix('.').unwrap_or(name)).filter(|n| !n.is_empty())
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
    fn wildcard_is_read_as_the_url_parser_reads_it() {
        for spelling in [
            "https://*.example.com",
            "https:*.example.com",
            "https:\\\\*.example.com",
            "https://%2a.example.com",
            "https://*%2eexample.com",
            "https://\u{ff0a}.example.com",
            "https://*\u{3002}example.com",
            "https://\t*.example.com",
        ] {
            let l = list(&[spelling], &[]);
            assert!(allowed(&l, "https://a.example.com/"), "{spelling}");
            assert!(!allowed(&l, "https://example.com/"), "{spelling}");
        }
    }

    #[test]
    fn only_one_trailing_dot_is_the_root() {
        let l = list(&["https://example.com"], &[]);
        assert!(allowed(&l, "https://example.com./"));
        assert!(!allowed(&l, "https://example.com../"));
        assert!(!allowed(&l, "https://./"));
        assert!(Origin::parse("https://.", false).is_err());
        assert!(Origin::parse("https://*.", false).is_err());
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
