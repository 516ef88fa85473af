//! The DevTools connection, usable by the supervisor alone.
//!
//! Chrome's own DevTools endpoint (`--remote-debugging-port`) listens on loopback without
//! any authentication: in a Kubernetes pod, where containers share the network namespace,
//! any container could connect and drive the browser, read every page and turn off the
//! egress proxy. So Chrome gets no port at all: it speaks CDP over two pipes
//! (`--remote-debugging-pipe`, file descriptors 3 and 4, messages ended by NUL).
//!
//! chromiumoxide only connects to a WebSocket URL, so the supervisor serves one on
//! loopback and relays it to the pipes. That listener accepts a connection only when the
//! kernel's socket table shows the connecting socket is held by this very process, and
//! only one: any other process, whatever its uid, gets the connection closed.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use async_tungstenite::tungstenite::Message;
use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::net::unix::pipe;
use tokio::task::JoinHandle;

use crate::egress::peer;

/// The relay between chromiumoxide's WebSocket and Chrome's pipes.
#[derive(Debug)]
pub struct Bridge {
    pub ws_url: String,
    task: JoinHandle<()>,
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Bridge {
    /// `to_chrome` is the write end of the pipe Chrome reads as fd 3, `from_chrome` the read
    /// end of the pipe it writes as fd 4.
    pub async fn start(to_chrome: OwnedFd, from_chrome: OwnedFd) -> std::io::Result<Bridge> {
        let to_chrome = pipe::Sender::from_owned_fd(to_chrome)?;
        let from_chrome = pipe::Receiver::from_owned_fd(from_chrome)?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let listen = listener.local_addr()?;
        let ws_url = format!("ws://{listen}/devtools/browser/supervisor");
        let task = tokio::spawn(async move {
            let Some(stream) = accept_own(&listener, listen).await else {
                return;
            };
            // One client ever: the listener closes once the supervisor is connected.
            drop(listener);
            if let Err(err) = relay(stream, to_chrome, from_chrome).await {
                tracing::debug!(%err, "devtools relay ended");
            }
        });
        Ok(Bridge { ws_url, task })
    }
}

/// Waits for a connection that this process itself opened; closes all others.
async fn accept_own(listener: &TcpListener, listen: SocketAddr) -> Option<tokio::net::TcpStream> {
    loop {
        let (stream, client) = listener.accept().await.ok()?;
        match peer::tcp_owner(client, listen) {
            Some(owner) if peer::is_own_socket(owner.inode) => {
                // CDP is many small messages each awaiting its answer: with Nagle's
                // algorithm each waits for the peer's delayed ACK, about 40 ms a call.
                let _ = stream.set_nodelay(true);
                return Some(stream);
            }
            owner => {
                tracing::warn!(
                    ?client,
                    uid = owner.map(|o| o.uid),
                    "refused a DevTools connection from another process"
                );
            }
        }
    }
}

async fn relay(
    stream: tokio::net::TcpStream,
    mut to_chrome: pipe::Sender,
    from_chrome: pipe::Receiver,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let websocket = async_tungstenite::tokio::accept_async(stream).await?;
    let (mut ws_out, mut ws_in) = websocket.split();

    let inbound = async {
        while let Some(message) = ws_in.next().await {
            let bytes = match message? {
                Message::Text(text) => text.as_bytes().to_vec(),
                Message::Binary(bytes) => bytes.to_vec(),
                Message::Close(_) => break,
                _ => continue,
            };
            to_chrome.write_all(&bytes).await?;
            to_chrome.write_all(&[0]).await?;
        }
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    };
    let outbound = async {
        let mut reader = BufReader::new(from_chrome);
        let mut message = Vec::new();
        loop {
            message.clear();
            if reader.read_until(0, &mut message).await? == 0 {
                break;
            }
            if message.last() == Some(&0) {
                message.pop();
            }
            let text = String::from_utf8(std::mem::take(&mut message))?;
            ws_out.send(Message::text(text)).await?;
        }
        // No closing handshake: the connection just ends, which chromiumoxide reports as an
        // error, the signal that Chrome is gone.
        drop(ws_out);
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    };
    // Either side ending ends the relay: Chrome exiting closes the WebSocket, which is how
    // the supervisor learns of it.
    tokio::select! {
        result = inbound => result,
        result = outbound => result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    const HANDSHAKE: &str = "GET /devtools/browser/supervisor HTTP/1.1\r\nhost: x\r\n\
        upgrade: websocket\r\nconnection: upgrade\r\n\
        sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n";

    #[tokio::test]
    async fn only_this_process_may_connect() {
        let (_chrome_reads, to_chrome) = nix::unistd::pipe().unwrap();
        let (from_chrome, _chrome_writes) = nix::unistd::pipe().unwrap();
        let bridge = Bridge::start(to_chrome, from_chrome).await.unwrap();
        let address = bridge
            .ws_url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap();
        let (host, port) = address.split_once(':').unwrap();

        // Another process, even of the same uid, gets the connection closed.
        let script = format!(
            "import socket; s = socket.create_connection(('{host}', {port})); \
             s.sendall({HANDSHAKE:?}.encode()); s.settimeout(5); print(s.recv(100))"
        );
        let other = tokio::process::Command::new("python3")
            .args(["-c", &script])
            .output();
        let other = other.await.unwrap();
        let seen = String::from_utf8_lossy(&other.stdout);
        let failed = String::from_utf8_lossy(&other.stderr);
        assert!(
            seen.trim() == "b''" || failed.contains("ConnectionResetError"),
            "another process got: {seen} {failed}"
        );

        let mut own = tokio::net::TcpStream::connect(address).await.unwrap();
        own.write_all(HANDSHAKE.as_bytes()).await.unwrap();
        let mut answer = [0u8; 64];
        let read = own.read(&mut answer).await.unwrap();
        assert!(String::from_utf8_lossy(&answer[..read]).contains("101"));
    }
}
