//! A minimal HTTP endpoint for Prometheus scrapes: any GET answers the latest exposition text, which the serving
//! loop replaces after every bar. One background thread, blocking accepts, one request per connection; enough
//! for a scraper every few seconds, not a general web server.

use crate::{Error, Result};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

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

/// Bind `addr` (port 0 picks a free one) and serve `text` from a background thread; returns the bound address.
pub fn serve(addr: &str, text: Exposition) -> Result<SocketAddr> {
    let listener =
        TcpListener::bind(addr).map_err(|e| Error::config("metrics-addr", format!("cannot listen on {addr}: {e}")))?;
    let bound = listener.local_addr().map_err(|e| Error::config("metrics-addr", e.to_string()))?;
    std::thread::Builder::new()
        .name("tickgrad-metrics".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut buf = [0u8; 1024];
                let _ = conn.read(&mut buf);
                let body = text.get();
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes()).and_then(|_| conn.write_all(body.as_bytes()));
            }
        })
        .map_err(|e| Error::Invalid(format!("starting the metrics thread: {e}")))?;
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_the_latest_text() {
        let text = Exposition::default();
        let addr = serve("127.0.0.1:0", text.clone()).unwrap();
        text.set("tickgrad_bars_total 7\n".into());
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut resp = String::new();
        c.read_to_string(&mut resp).unwrap();
        assert!(resp.starts_with("HTTP/1.1 200 OK\r\n") && resp.ends_with("\r\n\r\ntickgrad_bars_total 7\n"), "{resp}");
        assert!(serve("256.0.0.1:1", text).is_err());
    }
}
