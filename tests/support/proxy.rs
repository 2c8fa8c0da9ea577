//! A TCP relay in front of a test server that can go down mid-transfer: after a given
//! number of bytes from the client it cuts every connection and refuses new ones, as
//! a server killed in the middle of an upload does; [`Proxy::restart`] brings it back.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

struct State {
    upstream: u16,
    cut_after: AtomicU64,
    forwarded: AtomicU64,
    down: AtomicBool,
    conns: Mutex<Vec<TcpStream>>,
}

pub struct Proxy {
    pub port: u16,
    state: Arc<State>,
}

impl State {
    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, state: Arc<State>, counted: bool) {
    let mut buf = [0u8; 16384];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if state.down.load(Ordering::SeqCst) {
            break;
        }
        if counted {
            let total = state.forwarded.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
            if total > state.cut_after.load(Ordering::SeqCst) {
                state.cut();
                break;
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

impl Proxy {
    /// A relay to `127.0.0.1:upstream` that goes down after `cut_after` bytes sent.
    pub fn new(upstream: u16, cut_after: u64) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State {
            upstream,
            cut_after: AtomicU64::new(cut_after),
            forwarded: AtomicU64::new(0),
            down: AtomicBool::new(false),
            conns: Mutex::new(Vec::new()),
        });
        let s = state.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if s.down.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", s.upstream)) else {
                    continue;
                };
                {
                    let mut conns = s.conns.lock().unwrap();
                    conns.push(client.try_clone().unwrap());
                    conns.push(server.try_clone().unwrap());
                }
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (st1, st2) = (s.clone(), s.clone());
                std::thread::spawn(move || pump(client, server, st1, true));
                std::thread::spawn(move || pump(s2, c2, st2, false));
            }
        });
        Proxy { port, state }
    }

    /// Whether the relay went down.
    pub fn is_down(&self) -> bool {
        self.state.down.load(Ordering::SeqCst)
    }

    /// Back up, never to go down again.
    pub fn restart(&self) {
        self.state.cut_after.store(u64::MAX, Ordering::SeqCst);
        self.state.down.store(false, Ordering::SeqCst);
    }
}
