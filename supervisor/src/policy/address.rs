//! Which IP addresses count as globally routable.
//!
//! An origin allowed with `--allow` may only reach global unicast addresses; everything
//! else is "private" and needs `--allow-private`. The list is deliberately wide: SSRF
//! bypasses have used every range here (the cloud metadata service at 169.254.169.254,
//! `0.0.0.0` reaching loopback, IPv4 addresses wrapped in IPv6 forms that a naive check
//! reads as public).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

/// IPv4 ranges that are not globally routable (IANA special-purpose registry).
const PRIVATE_V4: &[&str] = &[
    "0.0.0.0/8",       // "this network"; 0.0.0.0 reaches the local host
    "10.0.0.0/8",      // RFC 1918
    "100.64.0.0/10",   // carrier-grade NAT
    "127.0.0.0/8",     // loopback
    "169.254.0.0/16",  // link-local, including cloud metadata services
    "172.16.0.0/12",   // RFC 1918
    "192.0.0.0/24",    // IETF protocol assignments
    "192.0.2.0/24",    // documentation
    "192.88.99.0/24",  // 6to4 relay anycast
    "192.168.0.0/16",  // RFC 1918
    "198.18.0.0/15",   // benchmarking
    "198.51.100.0/24", // documentation
    "203.0.113.0/24",  // documentation
    "224.0.0.0/4",     // multicast
    "240.0.0.0/4",     // reserved, and the broadcast address
];

/// IPv6 ranges that are not globally routable, or that embed an IPv4 address a router
/// may translate to anything (NAT64, 6to4, Teredo, IPv4-compatible).
const PRIVATE_V6: &[&str] = &[
    "::/96",          // unspecified, loopback and IPv4-compatible
    "::ffff:0:0/96",  // IPv4-mapped (checked by its IPv4 address as well)
    "64:ff9b::/96",   // NAT64
    "64:ff9b:1::/48", // local-use NAT64
    "100::/64",       // discard-only
    "2001::/32",      // Teredo
    "2001:2::/48",    // benchmarking
    "2001:10::/28",   // ORCHID
    "2001:20::/28",   // ORCHIDv2
    "2001:db8::/32",  // documentation
    "2002::/16",      // 6to4
    "fc00::/7",       // unique local
    "fe80::/10",      // link-local
    "fec0::/10",      // site-local (deprecated)
    "ff00::/8",       // multicast
];

pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    !PRIVATE_V4
        .iter()
        .any(|net| net.parse::<Ipv4Net>().expect("valid range").contains(&ip))
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped()
        && !is_global_v4(v4)
    {
        return false;
    }
    // Only 2000::/3 is allocated as global unicast.
    let global_unicast: Ipv6Net = "2000::/3".parse().expect("valid range");
    global_unicast.contains(&ip)
        && !PRIVATE_V6
            .iter()
            .any(|net| net.parse::<Ipv6Net>().expect("valid range").contains(&ip))
}

/// Addresses that nothing may reach, not even an `--allow-private` origin: there is no
/// legitimate page on them.
pub fn is_unreachable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast(),
        IpAddr::V6(v6) => v6.is_unspecified() || v6.is_multicast(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global(text: &str) -> bool {
        is_global(text.parse().unwrap())
    }

    #[test]
    fn public_addresses_are_global() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "2606:4700:4700::1111",
        ] {
            assert!(global(ip), "{ip}");
        }
    }

    #[test]
    fn every_special_range_is_private() {
        for ip in [
            "0.0.0.0",
            "10.1.2.3",
            "100.64.0.1",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.168.1.1",
            "198.18.0.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2002:a9fe:a9fe::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
        ] {
            assert!(!global(ip), "{ip} counted as global");
        }
    }
}
