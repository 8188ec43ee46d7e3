// Shape: the single-threaded server that opens the Rust book's final project chapter
// (TcpListener::bind, `for stream in listener.incoming()`, handle_connection(stream)),
// serving the textbook's print service instead of HTTP: read into a buffer and print
// each chunk with a line break, until the client closes.
//
// Model: blocking.  One client at a time: while one is served the others wait in the
// listen backlog, and incoming() accepts the next one when handle_connection returns
// and the stream is dropped (closed).
//
// stdout: Rust's Stdout is line-buffered, so the line break after each chunk flushes
// it; the explicit flush() only makes that independent of what the chunk contains.
use std::env;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};

fn handle_connection(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        let mut out = io::stdout().lock();
        out.write_all(&buf[..n])?;
        out.write_all(b"\n")?;
        out.flush()?;
    }
}

fn main() {
    let port = env::args().nth(1).expect("usage: server PORT");
    let listener = TcpListener::bind(format!("127.0.0.1:{port}")).expect("bind");
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                if let Err(e) = handle_connection(stream) {
                    eprintln!("client: {e}"); // a reset: on to the next client
                }
            }
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}
