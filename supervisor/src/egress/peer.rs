//! Who is on the other end of a loopback TCP connection.
//!
//! Loopback ports are reachable by every process in the network namespace (in a
//! Kubernetes pod, every container). The kernel's socket table says which uid owns the
//! client end of a connection, and which socket inode it is, so a listener meant for
//! Chrome or for the supervisor itself can refuse anyone else.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use netlink_packet_core::{NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::{Socket, SocketAddr as NetlinkAddr};

/// The client end of a connection as the kernel lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpOwner {
    pub uid: u32,
    pub inode: u64,
}

/// Finds the socket whose local address is `client` and remote address is `server`.
///
/// Asks the kernel for that one socket over `NETLINK_SOCK_DIAG`, a hash lookup. Reading
/// `/proc/net/tcp` instead makes the kernel print every TCP socket of the namespace: about
/// 5 ms with 400 of them, which a busy renderer's connections in `TIME_WAIT` soon are, and
/// paid on every connection Chrome opens to a job's proxy. The table is still read where
/// netlink cannot be used.
pub fn tcp_owner(client: SocketAddr, server: SocketAddr) -> Option<TcpOwner> {
    match diag_lookup(client, server) {
        Ok(found) => found,
        Err(err) => {
            tracing::debug!(%err, "sock_diag lookup failed; reading the socket table");
            table_lookup(client, server)
        }
    }
}

/// `Ok(None)` when the kernel has no such socket.
fn diag_lookup(client: SocketAddr, server: SocketAddr) -> std::io::Result<Option<TcpOwner>> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&NetlinkAddr::new(0, 0))?;

    let mut header = NetlinkHeader::default();
    // A request without NLM_F_DUMP asks for the one socket the identity names exactly.
    header.flags = NLM_F_REQUEST;
    let (family, mut socket_id) = if client.is_ipv4() {
        (AF_INET, SocketId::new_v4())
    } else {
        (AF_INET6, SocketId::new_v6())
    };
    socket_id.source_address = client.ip();
    socket_id.source_port = client.port();
    socket_id.destination_address = server.ip();
    socket_id.destination_port = server.port();
    // All ones: no cookie to match.
    socket_id.cookie = [0xff; 8];
    let mut request = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family,
            protocol: IPPROTO_TCP,
            extensions: ExtensionFlags::empty(),
            states: StateFlags::all(),
            socket_id,
        })
        .into(),
    );
    request.finalize();
    let mut out = vec![0; request.buffer_len()];
    request.serialize(&mut out);
    socket.send(&out, 0)?;

    let (answer, _) = socket.recv_from_full()?;
    let invalid = |e: netlink_packet_core::DecodeError| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
    };
    let message = NetlinkMessage::<SockDiagMessage>::deserialize(&answer).map_err(invalid)?;
    match message.payload {
        NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(response)) => {
            Ok(Some(TcpOwner {
                uid: response.header.uid,
                inode: response.header.inode.into(),
            }))
        }
        // The kernel answers ENOENT when no socket has that identity.
        NetlinkPayload::Error(error) if error.code.map(|c| -c.get()) == Some(nix::libc::ENOENT) => {
            Ok(None)
        }
        NetlinkPayload::Error(error) => Err(error.to_io()),
        other => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("unexpected sock_diag answer: {other:?}"),
        )),
    }
}

/// The same lookup in `/proc/net/tcp` or `/proc/net/tcp6`.
fn table_lookup(client: SocketAddr, server: SocketAddr) -> Option<TcpOwner> {
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

    /// A loopback connection: the client end's address, the listener's, and both ends.
    fn connection(
        at: &str,
    ) -> (
        SocketAddr,
        SocketAddr,
        std::net::TcpStream,
        std::net::TcpStream,
    ) {
        let listener = std::net::TcpListener::bind(at).unwrap();
        let server = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(server).unwrap();
        let (server_side, peer) = listener.accept().unwrap();
        (peer, server, client, server_side)
    }

    #[test]
    fn finds_the_owner_of_a_loopback_connection() {
        let (client, server, _c, _s) = connection("127.0.0.1:0");
        let owner = tcp_owner(client, server).expect("listed");
        assert_eq!(owner.uid, nix::unistd::geteuid().as_raw());
        assert!(is_own_socket(owner.inode));
    }

    #[test]
    fn netlink_and_the_socket_table_agree() {
        for at in ["127.0.0.1:0", "[::1]:0"] {
            let (client, server, _c, _s) = connection(at);
            let by_netlink = diag_lookup(client, server).expect("sock_diag answers");
            assert!(by_netlink.is_some(), "{at}: not found over netlink");
            assert_eq!(by_netlink, table_lookup(client, server), "{at}");
        }
    }

    #[test]
    fn the_server_end_is_not_taken_for_the_client_end() {
        let (client, server, _c, _s) = connection("127.0.0.1:0");
        // Swapped, the identity names the accepted socket, whose owner is ours as well;
        // what matters is that the lookup is exact, so its inode differs.
        let client_end = tcp_owner(client, server).unwrap();
        let server_end = tcp_owner(server, client).unwrap();
        assert_ne!(client_end.inode, server_end.inode);
    }

    #[test]
    fn no_such_connection_is_none() {
        let (client, server, _c, _s) = connection("127.0.0.1:0");
        let elsewhere = SocketAddr::new(server.ip(), client.port().wrapping_add(1).max(1));
        assert_eq!(diag_lookup(elsewhere, server).unwrap(), None);
        assert_eq!(tcp_owner(elsewhere, server), None);
    }
}
