// Shape: the Rust book's chapter 20 server stripped to TCP (TcpListener::bind, a for
// loop over listener.incoming(), thread::spawn per stream), serving echo: read into
// a buffer, print the chunk, write_all it back.
//
// Model: threaded.  std's sockets are blocking; each client has an OS thread of its
// own, parked in read(2) or write(2) until the kernel wakes it.
//
// stdout: Rust's Stdout is line-buffered even on a pipe, and a chunk has no newline of
// its own, so each chunk is written and flushed under the lock: one client's chunk is
// never cut by another's.  No signal handler: SIGTERM and SIGINT end the process and
// the kernel closes every client socket.
use std::env;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

fn handle(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(()); // the client closed; dropping the stream closes our side
        }
        {
            let mut out = io::stdout().lock();
            out.write_all(&buf[..n])?;
            out.flush()?;
        }
        stream.write_all(&buf[..n])?;
    }
}

fn main() {
    let port = env::args().nth(1).expect("usage: server PORT");
    let listener = TcpListener::bind(format!("127.0.0.1:{port}")).expect("bind");
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                thread::spawn(move || {
                    let _ = handle(stream); // a reset client is that client's problem only
                });
            }
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}
