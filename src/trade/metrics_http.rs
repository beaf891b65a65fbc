//! A minimal HTTP endpoint for Prometheus scrapes: `GET /metrics` answers the latest exposition text, which the
//! serving loop replaces after every bar. One request per connection, not a general web server.
//!
//! Each connection gets its own short-lived thread with read and write timeouts, and at most [`MAX_CONNECTIONS`]
//! run at once: a client that connects and sends nothing (or reads nothing) holds one slot for at most the
//! timeout instead of stalling every later scrape, and a flood of connections waits in the kernel's accept queue
//! instead of spawning unbounded threads.

use crate::{Error, Result};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Connections served at once; a scraper needs one, so this only bounds the damage of misbehaving clients.
pub const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send its request, or to take the answer, before its connection is dropped.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// A request head larger than this is refused: a scrape's head is a few hundred bytes.
const MAX_HEAD: usize = 8 * 1024;

/// The text the endpoint serves; clone it into the serving loop and `set` it after each bar.
#[derive(Clone, Default)]
pub struct Exposition(Arc<Mutex<String>>);

impl Exposition {
    pub fn set(&self, text: String) {
        if let Ok(mut g) = self.0.lock() {
            *g = text;
        }
    }

    fn get(&self) -> String {
        self.0.lock().map(|g| g.clone()).unwrap_or_default()
    }
}

/// Counts live connection threads so the accept loop can wait for a free slot.
#[derive(Default)]
struct Slots {
    live: Mutex<usize>,
    freed: Condvar,
}

impl Slots {
    fn acquire(&self) {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        while *live >= MAX_CONNECTIONS {
            live = self.freed.wait(live).unwrap_or_else(|p| p.into_inner());
        }
        *live += 1;
    }

    fn release(&self) {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        *live -= 1;
        self.freed.notify_one();
    }
}

/// Releases its slot however the connection's thread ends (a panic included), so slots never leak.
struct SlotGuard(Arc<Slots>);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// Bind `addr` (port 0 picks a free one) and serve `text` from background threads; returns the bound address.
pub fn serve(addr: &str, text: Exposition) -> Result<SocketAddr> {
    let listener =
        TcpListener::bind(addr).map_err(|e| Error::config("metrics-addr", format!("cannot listen on {addr}: {e}")))?;
    let bound = listener.local_addr().map_err(|e| Error::config("metrics-addr", e.to_string()))?;
    let slots = Arc::new(Slots::default());
    std::thread::Builder::new()
        .name("tickgrad-metrics".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                slots.acquire();
                let guard = SlotGuard(slots.clone());
                let text = text.clone();
                let spawned = std::thread::Builder::new().name("tickgrad-metrics-conn".into()).spawn(move || {
                    let _guard = guard;
                    handle(conn, &text);
                });
                // Out of threads: the closure (and with it the guard and the connection) was dropped, which
                // frees the slot and closes the socket; the scraper retries on its next interval.
                drop(spawned);
            }
        })
        .map_err(|e| Error::Invalid(format!("starting the metrics thread: {e}")))?;
    Ok(bound)
}

/// Read one request head and answer it; every failure just drops the connection, since there is nobody to tell.
fn handle(mut conn: TcpStream, text: &Exposition) {
    if conn.set_read_timeout(Some(IO_TIMEOUT)).is_err() || conn.set_write_timeout(Some(IO_TIMEOUT)).is_err() {
        return;
    }
    let Some(head) = read_head(&mut conn) else { return };
    let (status, body) = route(&head, text);
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n",
        body.len(),
        if status.starts_with("405") { "Allow: GET\r\n" } else { "" },
    );
    let _ = conn.write_all(head.as_bytes()).and_then(|_| conn.write_all(body.as_bytes())).and_then(|_| conn.flush());
}

/// The request head up to the blank line; `None` when the client closes, times out or sends too much.
fn read_head(conn: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        let n = conn.read(&mut buf).ok()?;
        if n == 0 {
            // A client that half-closes after its request line is still answered.
            return (!head.is_empty()).then_some(head);
        }
        head.extend_from_slice(&buf[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Some(head);
        }
        if head.len() > MAX_HEAD {
            return None;
        }
    }
}

/// Status line and body for a request head.
fn route(head: &[u8], text: &Exposition) -> (&'static str, String) {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return ("400 Bad Request", "bad request line\n".into());
    };
    let path = target.split('?').next().unwrap_or_default();
    if path != "/metrics" {
        return ("404 Not Found", "not found: the metrics are at /metrics\n".into());
    }
    if method != "GET" {
        return ("405 Method Not Allowed", "only GET is served\n".into());
    }
    ("200 OK", text.get())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;

    fn request(addr: SocketAddr, req: &[u8]) -> String {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(req).unwrap();
        let mut resp = String::new();
        c.read_to_string(&mut resp).unwrap();
        resp
    }

    #[test]
    fn serves_the_latest_text() {
        let text = Exposition::default();
        let addr = serve("127.0.0.1:0", text.clone()).unwrap();
        text.set("tickgrad_bars_total 7\n".into());
        let resp = request(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(resp.starts_with("HTTP/1.1 200 OK\r\n") && resp.ends_with("\r\n\r\ntickgrad_bars_total 7\n"), "{resp}");
        let resp = request(addr, b"GET /metrics?x=1 HTTP/1.1\r\n\r\n");
        assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
        assert!(serve("256.0.0.1:1", text).is_err());
    }

    #[test]
    fn other_paths_are_404_and_other_methods_405() {
        let text = Exposition::default();
        text.set("tickgrad_bars_total 7\n".into());
        let addr = serve("127.0.0.1:0", text).unwrap();
        for req in
            [&b"GET / HTTP/1.1\r\n\r\n"[..], b"GET /metricsx HTTP/1.1\r\n\r\n", b"GET /favicon.ico HTTP/1.0\r\n\r\n"]
        {
            let resp = request(addr, req);
            assert!(resp.starts_with("HTTP/1.1 404 Not Found\r\n"), "{resp}");
            assert!(!resp.contains("tickgrad_bars_total"), "{resp}");
        }
        let resp = request(addr, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        assert!(resp.starts_with("HTTP/1.1 405 Method Not Allowed\r\n") && resp.contains("Allow: GET\r\n"), "{resp}");
        let resp = request(addr, b"garbage\r\n\r\n");
        assert!(resp.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{resp}");
    }

    /// The bug this module was rewritten for: one idle connection used to block every later scrape until it closed.
    #[test]
    fn an_idle_client_does_not_stall_concurrent_scrapes() {
        let text = Exposition::default();
        text.set("tickgrad_bars_total 9\n".into());
        let addr = serve("127.0.0.1:0", text).unwrap();
        let idle = TcpStream::connect(addr).unwrap();
        let started = std::time::Instant::now();
        let scrapes: Vec<_> = (0..50)
            .map(|_| std::thread::spawn(move || request(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")))
            .collect();
        for s in scrapes {
            let resp = s.join().unwrap();
            assert!(resp.starts_with("HTTP/1.1 200 OK\r\n") && resp.ends_with("tickgrad_bars_total 9\n"), "{resp}");
        }
        // Well under IO_TIMEOUT: the scrapes did not wait for the idle client to be dropped.
        assert!(started.elapsed() < IO_TIMEOUT, "scrapes took {:?}", started.elapsed());
        drop(idle);
    }

    /// The idle client itself is cut off after the read timeout rather than holding its slot forever.
    #[test]
    fn an_idle_client_is_dropped_after_the_timeout() {
        let addr = serve("127.0.0.1:0", Exposition::default()).unwrap();
        let mut idle = TcpStream::connect(addr).unwrap();
        idle.set_read_timeout(Some(IO_TIMEOUT * 3)).unwrap();
        let started = std::time::Instant::now();
        let mut buf = Vec::new();
        let n = idle.read_to_end(&mut buf).unwrap();
        assert_eq!(n, 0, "the server closes without an answer");
        let waited = started.elapsed();
        assert!(waited >= IO_TIMEOUT - Duration::from_millis(200) && waited < IO_TIMEOUT * 2, "{waited:?}");
    }
}
