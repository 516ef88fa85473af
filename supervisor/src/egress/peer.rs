//! Who is on the other end of a loopback TCP connection.
//!
//! Loopback ports are reachable by every process in the network namespace (in a
//! Kubernetes pod, every container). The kernel's socket table says which uid owns the
//! client end of a connection, and which socket inode it is, so a listener meant for
//! Chrome or for the supervisor itself can refuse anyone else.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The client end of a connection as the kernel lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpOwner {
    pub uid: u32,
    pub inode: u64,
}

/// Finds the socket whose local address is `client` and remote address is `server`.
pub fn tcp_owner(client: SocketAddr, server: SocketAddr) -> Option<TcpOwner> {
    let table = if client.is_ipv4() {
        "/proc/net/tcp"
    } else {
        "/proc/net/tcp6"
    };
    let text = std::fs::read_to_string(table).ok()?;
    text.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let local = parse_address(fields.get(1)?)?;
        let remote = parse_address(fields.get(2)?)?;
        if local != client || remote != server {
            return None;
        }
        Some(TcpOwner {
            uid: fields.get(7)?.parse().ok()?,
            inode: fields.get(9)?.parse().ok()?,
        })
    })
}

/// Whether `inode` is a socket this process holds open.
pub fn is_own_socket(inode: u64) -> bool {
    let wanted = format!("socket:[{inode}]");
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return false;
    };
    entries
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .any(|target| target.as_os_str() == wanted.as_str())
}

/// `0100007F:1F90` → 127.0.0.1:8080. Each 32-bit group is printed in the host's byte order.
pub fn parse_address(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words: Vec<u32> = (0..ip.len() / 8)
        .map(|i| u32::from_str_radix(&ip[i * 8..i * 8 + 8], 16))
        .collect::<Result<_, _>>()
        .ok()?;
    let ip = match words.as_slice() {
        [w] => IpAddr::V4(Ipv4Addr::from(w.to_ne_bytes())),
        [a, b, c, d] => {
            let mut bytes = [0u8; 16];
            for (i, w) in [a, b, c, d].iter().enumerate() {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_owner_of_a_loopback_connection() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server_side, peer) = listener.accept().unwrap();
        let owner = tcp_owner(peer, listener.local_addr().unwrap()).expect("listed");
        assert_eq!(owner.uid, nix::unistd::geteuid().as_raw());
        assert!(is_own_socket(owner.inode));
        drop(client);
    }
}
