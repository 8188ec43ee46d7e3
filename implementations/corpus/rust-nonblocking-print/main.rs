// Shape: the non-blocking polling loop as Rust's std documents it
// (TcpListener::set_nonblocking, whose example loops on incoming() and matches
// io::ErrorKind::WouldBlock): one thread keeps a Vec of client streams, tries accept
// and every client's read in turn, prints what arrived, and sleeps a little after a
// pass that found nothing to do.
//
// Model: nonblocking.  O_NONBLOCK sockets polled in a loop with a short sleep; no
// readiness mechanism at all.  A pass with no progress costs one failing call per
// socket, so the loop sleeps 10 ms then; a pass that moved bytes goes round at once.
//
// stdout: Rust's Stdout is line-buffered, so each chunk goes out as one line (the
// textbook's printf("%s\n", buf)) with println!-like framing written by hand to keep
// the bytes exact, then flushed.
use std::env;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

fn main() -> io::Result<()> {
    let port = env::args().nth(1).expect("usage: server PORT");
    let listener = TcpListener::bind(format!("127.0.0.1:{port}"))?;
    listener.set_nonblocking(true)?;
    let mut clients: Vec<TcpStream> = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let mut busy = false;
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(true)?;
                    clients.push(stream);
                    busy = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => {
                    eprintln!("accept: {e}"); // ECONNABORTED, EMFILE: try again next pass
                    break;
                }
            }
        }
        // retain_mut drops (and so closes) every client whose read ended.
        clients.retain_mut(|c| match c.read(&mut buf) {
            Ok(0) => false,
            Ok(n) => {
                let mut out = io::stdout().lock();
                let _ = out.write_all(&buf[..n]).and_then(|_| out.write_all(b"\n"));
                let _ = out.flush();
                busy = true;
                true
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => true,
            Err(e) if e.kind() == ErrorKind::Interrupted => true,
            Err(_) => false, // reset
        });
        if !busy {
            thread::sleep(Duration::from_millis(10));
        }
    }
}
