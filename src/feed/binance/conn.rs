//! Opening the websocket, and how long to wait between tries.
//!
//! The socket is a blocking `TcpStream` with a read timeout: the heartbeat. Binance's kline stream sends an update
//! every few seconds at most and a ping every few minutes, so a connection silent for longer than the timeout is
//! dead even when TCP has not noticed (a half-open connection after a NAT or exchange restart); the read fails and
//! the feed reconnects.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;
use tungstenite::client::IntoClientRequest;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::WebSocket;

pub type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// Exponential backoff between connection tries: none before the first try after a loss (a dropped connection is
/// usually back at once), then `initial`, doubling up to `max`; after `attempts` failed tries in a row the feed
/// gives up with an error. No jitter: one client per process, and the tests need the schedule exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff { initial: Duration::from_millis(500), max: Duration::from_secs(30), attempts: 10 }
    }
}

impl Backoff {
    /// The wait before the next try after `failures` failed tries in a row.
    pub fn delay(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let factor = 1u32.checked_shl(failures - 1).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// Connect to `url` (ws://) and do the websocket handshake. `connect` bounds the TCP connect and each read and
/// write of the handshake, `heartbeat` every read and write after it. The error is a sentence for the reconnect log.
pub fn open(url: &str, connect: Duration, heartbeat: Duration) -> Result<Socket, String> {
    let request = url.into_client_request().map_err(|e| format!("bad url {url}: {e}"))?;
    let uri = request.uri();
    let tls = uri.scheme_str() == Some("wss");
    let host = uri.host().ok_or_else(|| format!("no host in {url}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let addrs = (host.as_str(), port).to_socket_addrs().map_err(|e| format!("cannot resolve {host}:{port}: {e}"))?;
    let mut last = format!("{host}:{port} resolves to no address");
    let mut tcp = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, connect) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = format!("connect to {addr}: {e}"),
        }
    }
    let tcp = tcp.ok_or(last)?;
    let timeouts = |s: &TcpStream, t: Duration| -> std::io::Result<()> {
        s.set_read_timeout(Some(t))?;
        s.set_write_timeout(Some(t))
    };
    timeouts(&tcp, connect).and_then(|_| tcp.set_nodelay(true)).map_err(|e| format!("socket options: {e}"))?;
    // no TLS backend is built in (see `super::TLS`); `BinanceFeed::new` refuses wss:// before this is reached
    let socket = match tungstenite::client(request, MaybeTlsStream::Plain(tcp)) {
        Ok((socket, _response)) => socket,
        Err(tungstenite::HandshakeError::Interrupted(_)) => {
            return Err(format!("websocket handshake: no answer within {} ms", connect.as_millis()))
        }
        Err(tungstenite::HandshakeError::Failure(e)) => return Err(format!("websocket handshake: {e}")),
    };
    // from here on a silence longer than the heartbeat is a dead connection
    if let MaybeTlsStream::Plain(tcp) = socket.get_ref() {
        timeouts(tcp, heartbeat).map_err(|e| format!("socket options: {e}"))?;
    }
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap() {
        let b = Backoff { initial: Duration::from_millis(100), max: Duration::from_millis(700), attempts: 5 };
        let ms: Vec<u128> = (0..6).map(|f| b.delay(f).as_millis()).collect();
        assert_eq!(ms, [0, 100, 200, 400, 700, 700]);
        assert_eq!(b.delay(u32::MAX), Duration::from_millis(700), "no overflow on a long outage");
    }

    #[test]
    fn a_refused_connection_is_a_sentence() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let e = open(&format!("ws://127.0.0.1:{port}/x"), Duration::from_secs(2), Duration::from_secs(2)).unwrap_err();
        assert!(e.starts_with(&format!("connect to 127.0.0.1:{port}: ")), "{e}");
    }
}
