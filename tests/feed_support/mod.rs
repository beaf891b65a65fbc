//! A websocket server on loopback that replays fixture messages by a plan, one planned connection after another:
//! the stand-in for Binance in the feed tests (no test reaches the internet).
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::Message;

/// Lines of hour `h` in `fixtures/binance/kline_1h.jsonl` are `6h .. 6h+6`: BTC and ETH opening ticks, their
/// mid-hour updates, then their closed klines (at `6h + BTC_CLOSED` and `6h + ETH_CLOSED`).
pub const BTC_CLOSED: usize = 4;
pub const ETH_CLOSED: usize = 5;

pub fn fixture_lines() -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join("binance").join("kline_1h.jsonl");
    std::fs::read_to_string(&path).unwrap().lines().map(str::to_string).collect()
}

/// The line numbers of `hours`, in stream order.
pub fn hour_lines(hours: std::ops::Range<usize>) -> Vec<usize> {
    hours.flat_map(|h| 6 * h..6 * h + 6).collect()
}

/// What the server does on one connection, in order.
pub enum Step {
    /// Send these fixture lines (by number) as text messages.
    Send(Vec<usize>),
    /// Send a ping and wait for the client's pong (recorded in [`Log::pongs`]).
    Ping(Vec<u8>),
    /// Drop the TCP connection without a close frame.
    Drop,
    /// Send nothing more and wait until the client goes (its heartbeat timeout, or its close at the end).
    Hold,
}

/// What the server saw: the request path of each connection and the payload of each pong.
#[derive(Debug, Default)]
pub struct Log {
    pub paths: Vec<String>,
    pub pongs: Vec<Vec<u8>>,
}

pub struct Server {
    port: u16,
    thread: JoinHandle<Log>,
}

impl Server {
    /// Listen on 127.0.0.1, port 0, and play `plan` (one entry per connection) with `lines`; the listener closes
    /// after the last connection.
    pub fn start(lines: Vec<String>, plan: Vec<Vec<Step>>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let thread = std::thread::spawn(move || {
            let mut log = Log::default();
            for steps in plan {
                let mut ws = loop {
                    let (tcp, _) = listener.accept().unwrap();
                    tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                    let mut path = String::new();
                    let hs = tungstenite::accept_hdr(
                        tcp,
                        |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
                            path = req.uri().to_string();
                            Ok(resp)
                        },
                    );
                    // a client that gave up on a slow handshake leaves a dead connection: take the next one
                    if let Ok(ws) = hs {
                        log.paths.push(path);
                        break ws;
                    }
                };
                for step in steps {
                    match step {
                        Step::Send(ids) => {
                            for i in ids {
                                ws.send(Message::text(lines[i].clone())).unwrap();
                            }
                        }
                        Step::Ping(payload) => {
                            ws.send(Message::Ping(payload.into())).unwrap();
                            match ws.read().unwrap() {
                                Message::Pong(p) => log.pongs.push(p.to_vec()),
                                other => panic!("expected a pong, got {other:?}"),
                            }
                        }
                        Step::Drop => break,
                        Step::Hold => while ws.read().is_ok() {},
                    }
                }
            }
            log
        });
        Server { port, thread }
    }

    pub fn base_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// Wait for the plan to end (the listener is closed then) and return what the server saw.
    pub fn finish(self) -> Log {
        self.thread.join().expect("the loopback server panicked")
    }
}
