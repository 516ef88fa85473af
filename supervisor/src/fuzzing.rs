//! Invariants the fuzz targets in `supervisor/fuzz` check, kept here so that the fuzzers
//! and the replay test (`tests/fuzz_replay.rs`) run the same code. Each function takes
//! arbitrary bytes and panics when an invariant does not hold.
//!
//! [`job`] feeds a body through exactly what the server does with it before a job may queue
//! ([`checked_job`]) and checks that a refusal names the field at fault and that an accepted
//! job is within its limits.
//!
//! [`policy`] is differential: the url crate (the WHATWG URL standard, as Chrome reads
//! URLs) is the reference for scheme, host and port. An allowed origin must be what the url
//! crate reads from the configured text; a URL must be allowed exactly when the url crate's
//! reading of it falls within that origin; the egress proxy, which reads hosts from HTTP
//! request targets and IP literals with its own parsers, must end up at the same host, port
//! and address; and a job's narrowed list may never allow what the configured one refuses.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::OnceLock;

use http::Uri;
use url::{Host, Position, Url};

use crate::config::{ServeArgs, Settings};
use crate::egress::proxy;
use crate::job::{Endpoint, Job, Output, Source, Target};
use crate::policy::address;
use crate::policy::origin::HostPattern;
use crate::policy::{Origin, OriginList};
use crate::server::error::Code;
use crate::server::routes::checked_job;

/// The top-level fields of a job body.
const JOB_FIELDS: &[&str] = &[
    "url",
    "html",
    "timeout_ms",
    "viewport",
    "wait",
    "media",
    "headers",
    "cookies",
    "user_agent",
    "locale",
    "timezone",
    "fail_on",
    "allow",
    "pdf",
    "screenshot",
];

/// The default settings, and the same with an allow-list, so that the `allow` narrowing
/// and the origin check of a job's URL are reached too.
fn job_settings() -> &'static [Settings; 2] {
    static SETTINGS: OnceLock<[Settings; 2]> = OnceLock::new();
    SETTINGS.get_or_init(|| {
        let args = |allow: &[&str], allow_private: &[&str]| ServeArgs {
            // Never started: only needed so that resolving does not look for a browser.
            chrome: Some(PathBuf::from("/bin/true")),
            allow: allow.iter().map(|s| s.to_string()).collect(),
            allow_private: allow_private.iter().map(|s| s.to_string()).collect(),
            ..ServeArgs::default()
        };
        let settings = |args: ServeArgs| args.resolve().expect("settings resolve");
        [
            settings(args(&[], &[])),
            settings(args(
                &["https://*.example.com", "http://example.org:8080"],
                &["http://127.0.0.1:9000"],
            )),
        ]
    })
}

/// A job body, through parsing, validation and the origin check, for both endpoints.
pub fn job(data: &[u8]) {
    for settings in job_settings() {
        for endpoint in [Endpoint::Pdf, Endpoint::Screenshot] {
            match checked_job(data, endpoint, settings) {
                Ok(job) => check_accepted(&job, endpoint, settings),
                Err(err) => match err.code {
                    Code::InvalidJob => check_refusal(data, &err.message),
                    Code::BlockedUrl => assert!(err.message.starts_with("url: "), "{err:?}"),
                    other => panic!("a body can only be invalid or blocked, got {other:?}"),
                },
            }
        }
    }
}

/// A 400 starts with the field at fault. When the body is not a JSON object, that is
/// `body`, the top-level field in whose value the syntax broke, or an unknown key, which is
/// refused as soon as it is read. Otherwise it is a path that starts at a key of the
/// object, `url` (which every job needs), or `body` for a key given twice, which the
/// message then quotes.
fn check_refusal(data: &[u8], message: &str) {
    let names = |key: &str| {
        message
            .strip_prefix(key)
            .is_some_and(|rest| [": ", ".", "["].iter().any(|s| rest.starts_with(s)))
    };
    let object = match serde_json::from_slice::<serde_json::Value>(data) {
        Ok(serde_json::Value::Object(object)) => object,
        _ => {
            let named =
                names("body") || JOB_FIELDS.iter().any(|f| names(f)) || names_unknown(message);
            assert!(named, "not an object, yet {message:?}");
            return;
        }
    };
    let named = names("url")
        || object.keys().any(|key| names(key))
        || names("body")
            && object
                .keys()
                .any(|key| message.contains(&format!("`{key}`")));
    assert!(named, "{message:?} names no field of the body");
}

/// Whether the message refuses an unknown key and starts with the path that ends at it.
fn names_unknown(message: &str) -> bool {
    let Some((path, rest)) = message.split_once(": unknown field `") else {
        return false;
    };
    let ends_path = |key: &str| rest.strip_prefix(key).is_some_and(|r| r.starts_with('`'));
    ends_path(path)
        || path
            .match_indices('.')
            .any(|(i, _)| ends_path(&path[i + 1..]))
}

/// What `validate` promises about a job it accepts.
fn check_accepted(job: &Job, endpoint: Endpoint, settings: &Settings) {
    let limits = &settings.limits;
    assert!(!job.timeout.is_zero() && job.timeout <= limits.max_timeout);
    let v = job.viewport;
    assert!((1..=limits.max_viewport).contains(&v.width));
    assert!((1..=limits.max_viewport).contains(&v.height));
    let scale = v.device_scale_factor;
    assert!(scale.is_finite() && scale > 0.0 && scale <= limits.max_scale_factor);
    if let Source::Url(url) = &job.source {
        assert!(matches!(url.scheme(), "http" | "https"), "{url}");
        // A job's own allow-list only narrows: what it lets the page open, the operator's
        // list lets it open too.
        assert!(
            settings.origins.find(url).is_some(),
            "{url} is outside the configuration"
        );
    }
    for cookie in &job.cookies {
        assert!(!cookie.name.is_empty());
        assert!(
            cookie.domain.is_some() != cookie.url.is_some(),
            "{cookie:?}"
        );
    }
    match (&job.output, endpoint) {
        (Output::Pdf(pdf), Endpoint::Pdf) => {
            for inches in [pdf.width, pdf.height] {
                assert!(inches.is_finite() && inches >= 0.1, "{pdf:?}");
            }
            for inches in pdf.margin {
                assert!(inches.is_finite() && inches >= 0.0, "{pdf:?}");
            }
            assert!((0.1..=2.0).contains(&pdf.scale), "{pdf:?}");
        }
        (Output::Screenshot(shot), Endpoint::Screenshot) => {
            if let Some(quality) = shot.quality {
                assert!(quality <= 100 && shot.format != crate::job::ImageFormat::Png);
            }
            if let Target::Clip(c) = shot.target {
                assert!([c.x, c.y, c.width, c.height].iter().all(|v| v.is_finite()));
                assert!(c.x >= 0.0 && c.y >= 0.0 && c.width > 0.0 && c.height > 0.0);
            }
            assert!(shot.max_width != Some(0) && shot.max_height != Some(0));
        }
        (output, endpoint) => panic!("{endpoint:?} job produced {output:?}"),
    }
}

/// Up to three strings separated by 0xFF bytes (which UTF-8 never contains): an origin to
/// configure, a URL to request, and an origin a job narrows the configuration to. Every
/// piece is also checked on its own as an origin and as a URL.
pub fn policy(data: &[u8]) {
    let pieces: Vec<Cow<str>> = data
        .split(|b| *b == 0xff)
        .take(3)
        .map(String::from_utf8_lossy)
        .collect();
    for text in &pieces {
        check_origin_parse(text);
        check_addresses(text);
        check_raw_request_target(text);
    }
    let configured = &pieces[0];
    let requested = pieces.get(1).unwrap_or(configured);
    check_decision(configured, requested);
    if let Some(narrowed) = pieces.get(2) {
        check_narrowing(configured, narrowed, requested);
    }
}

/// An origin as the url crate reads it: the reference the policy is held to.
#[derive(Debug, PartialEq)]
struct Reference {
    scheme: String,
    host: HostPattern,
    port: u16,
}

/// The rules of an allowed origin written directly against the url crate: an http, https,
/// ws or wss URL with a host, nothing but `/` as path, no user info, query or fragment. A
/// host whose first label is `*` stands for the subdomains of the rest. One trailing dot
/// (the DNS root) does not make a different name.
fn reference_origin(text: &str) -> Option<Reference> {
    let url = Url::parse(text).ok()?;
    if !matches!(url.scheme(), "http" | "https" | "ws" | "wss")
        || !matches!(url.path(), "" | "/")
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    let host = match url.host()? {
        Host::Domain(name) => match name.strip_prefix("*.") {
            Some(parent) => HostPattern::Subdomains(without_root(parent)?.to_owned()),
            None => HostPattern::Name(without_root(name)?.to_owned()),
        },
        Host::Ipv4(v4) => HostPattern::Ip(v4.into()),
        Host::Ipv6(v6) => HostPattern::Ip(v6.into()),
    };
    Some(Reference {
        scheme: url.scheme().to_owned(),
        host,
        port: url.port_or_known_default()?,
    })
}

/// A name without one trailing dot; `None` when nothing is left.
fn without_root(name: &str) -> Option<&str> {
    Some(name.strip_suffix('.').unwrap_or(name)).filter(|n| !n.is_empty())
}

impl Reference {
    fn allows(&self, url: &Url) -> bool {
        let host_matches = match (&self.host, url.host()) {
            (HostPattern::Name(name), Some(Host::Domain(d))) => without_root(d) == Some(name),
            (HostPattern::Subdomains(parent), Some(Host::Domain(d))) => without_root(d)
                .and_then(|d| d.strip_suffix(parent.as_str()))
                .and_then(|rest| rest.strip_suffix('.'))
                .is_some_and(|label| !label.is_empty()),
            (HostPattern::Ip(ip), Some(Host::Ipv4(v4))) => *ip == IpAddr::V4(v4),
            (HostPattern::Ip(ip), Some(Host::Ipv6(v6))) => *ip == IpAddr::V6(v6),
            _ => false,
        };
        host_matches
            && self.scheme == url.scheme()
            && Some(self.port) == url.port_or_known_default()
    }
}

/// The policy accepts an origin exactly when the reference does, with the same reading.
fn check_origin_parse(text: &str) {
    let policy = Origin::parse(text, false).ok().map(|o| Reference {
        scheme: o.scheme,
        host: o.host,
        port: o.port,
    });
    assert_eq!(policy, reference_origin(text), "origin {text:?}");
}

/// The proxy reads IP literals from the host text by itself; it must read the address the
/// url crate parsed, in whatever form the URL wrote it (`0x7f.1`, `2130706433`, `[::1]`).
/// Only the schemes an origin may have reach it: other schemes have opaque hosts, where
/// `127.0.0.1` is a name.
fn check_addresses(text: &str) {
    let Ok(url) = Url::parse(text) else { return };
    if !matches!(url.scheme(), "http" | "https" | "ws" | "wss") {
        return;
    }
    let (Some(host), Some(host_str)) = (url.host(), url.host_str()) else {
        return;
    };
    let expected = match host {
        Host::Domain(_) => None,
        Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
    };
    let (_, literal) = proxy::literal_address(host_str);
    assert_eq!(literal, expected, "address of {text:?}");
    if let Some(ip) = expected {
        check_embedded_v4(ip);
    }
}

/// An IPv6 address that carries an IPv4 one (mapped, compatible, NAT64) is never counted
/// as global when the IPv4 address is not.
fn check_embedded_v4(ip: IpAddr) {
    let v4 = match ip {
        IpAddr::V4(v4) => v4,
        // The low 32 bits, where every IPv4-embedding form keeps the address.
        IpAddr::V6(v6) => Ipv4Addr::from_bits(v6.to_bits() as u32),
    };
    let [a, b, c, d] = v4.octets();
    let (high, low) = (u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]));
    let wrapped = [
        Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, high, low),
        Ipv6Addr::new(0, 0, 0, 0, 0, 0, high, low),
        Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, high, low),
    ];
    if !address::is_global(v4.into()) {
        for v6 in wrapped {
            assert!(
                !address::is_global(v6.into()),
                "{v6} counted global, {v4} is not"
            );
        }
    }
}

/// Any request target the proxy lets through is one the url crate reads the same way: the
/// host and port the proxy connects to are the url crate's for that target.
fn check_raw_request_target(text: &str) {
    let Ok(uri) = text.parse::<Uri>() else { return };
    // With nothing allowed nothing may pass, however the target is written.
    let nothing = OriginList::default();
    assert!(proxy::tunnel_target(&uri, &nothing).is_err(), "{text:?}");
    assert!(proxy::forward_target(&uri, &nothing).is_err(), "{text:?}");
    let Some(authority) = uri.authority() else {
        return;
    };
    let everything = list_for_authority(authority);
    if let Ok((_, host, port)) = proxy::tunnel_target(&uri, &everything) {
        let url = Url::parse(&format!("https://{authority}/"));
        let url = url.unwrap_or_else(|e| panic!("tunnel to {text:?}, which is no URL: {e}"));
        assert_eq!(
            url.host_str(),
            Some(host.as_str()),
            "tunnel host of {text:?}"
        );
        assert_eq!(
            url.port_or_known_default(),
            Some(port),
            "tunnel port of {text:?}"
        );
    }
}

/// A list that allows the authority's host (as the url crate reads it) for every tunnelled
/// scheme, on the port the url crate reads and on the default ones, so that the proxy's
/// own reading of the authority decides.
fn list_for_authority(authority: &http::uri::Authority) -> OriginList {
    let whole = Url::parse(&format!("https://{authority}/"));
    let host_only = Url::parse(&format!("https://{}/", authority.host()));
    let Some(url) = whole.ok().or(host_only.ok()) else {
        return OriginList::default();
    };
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return OriginList::default();
    };
    let mut allow = Vec::new();
    for scheme in ["https", "wss", "ws"] {
        for port in [port, 80, 443] {
            allow.push(format!("{scheme}://{host}:{port}"));
        }
    }
    OriginList::parse(&allow, &[]).unwrap_or_default()
}

/// With `configured` as the only allowed origin, `requested` is allowed exactly when the
/// reference allows it: by the server for a job's URL, and by the proxy for the request
/// Chrome makes for it.
fn check_decision(configured: &str, requested: &str) {
    let own = [configured.to_owned()];
    let Ok(list) = OriginList::parse(&own, &[]) else {
        return;
    };
    let reference = reference_origin(configured).expect("parsed origins match the reference");
    let Ok(url) = Url::parse(requested) else {
        return;
    };
    let allowed = reference.allows(&url);
    assert_eq!(
        list.find(&url).is_some(),
        allowed,
        "{requested:?} under {configured:?}"
    );

    let Some(host) = url.host_str() else { return };
    let Some(port) = url.port_or_known_default() else {
        return;
    };
    let (target, tunnel) = match url.scheme() {
        // Chrome tunnels TLS and WebSockets with `CONNECT host:port`.
        "https" | "wss" | "ws" => (format!("{host}:{port}"), true),
        // Plain HTTP goes as an absolute-form request, without the fragment.
        "http" => (url[..Position::AfterQuery].to_owned(), false),
        _ => return,
    };
    // A target hyper cannot parse never reaches the policy.
    let Ok(uri) = target.parse::<Uri>() else {
        return;
    };
    let (result, expected) = if tunnel {
        let expected = ["https", "wss", "ws"].iter().any(|scheme| {
            let mut url = url.clone();
            url.set_scheme(scheme).is_ok()
                && url.set_port(Some(port)).is_ok()
                && reference.allows(&url)
        });
        (proxy::tunnel_target(&uri, &list), expected)
    } else {
        (proxy::forward_target(&uri, &list), allowed)
    };
    match result {
        Ok((_, proxy_host, proxy_port)) => {
            assert!(
                expected,
                "proxy lets {target:?} through under {configured:?}"
            );
            assert_eq!(
                (proxy_host.as_str(), proxy_port),
                (host, port),
                "{target:?}"
            );
        }
        Err(_) => assert!(!expected, "proxy refuses {target:?} under {configured:?}"),
    }
}

/// A job's narrowing of the configured list allows nothing the configured list refuses,
/// and reaches private addresses only where the configured list does.
fn check_narrowing(configured: &str, narrowed: &str, requested: &str) {
    for private in [false, true] {
        let (allow, allow_private) = if private {
            (vec![], vec![configured.to_owned()])
        } else {
            (vec![configured.to_owned()], vec![])
        };
        let Ok(list) = OriginList::parse(&allow, &allow_private) else {
            return;
        };
        let Ok(job_list) = list.narrow(&[narrowed.to_owned()]) else {
            continue;
        };
        let Ok(url) = Url::parse(requested) else {
            return;
        };
        let Some(by_job) = job_list.find(&url) else {
            continue;
        };
        let by_config = list.find(&url);
        let by_config = by_config.unwrap_or_else(|| {
            panic!("{narrowed:?} lets {requested:?} through, {configured:?} does not")
        });
        assert!(
            !by_job.private || by_config.private,
            "{narrowed:?} gained private"
        );
    }
}
