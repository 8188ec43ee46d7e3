// Shape: the textbook poll() server carried over to Rust with std only: std's
// TcpListener and TcpStream made non-blocking, poll(2) declared by hand with
// extern "C", and a Vec of pollfd entries kept side by side with a Vec of clients.
// Echo only: nothing is printed.
//
// Model: poll.  Level-triggered: each report is followed by one read of one buffer, and
// a client with more to send is reported again on the next call.  When the echo does
// not fit the socket, the rest is kept and that client's entry asks for POLLOUT instead
// of POLLIN, so the server stops reading it until the echo is out (bounded memory).
// A client that leaves is removed with swap_remove from both Vecs, which closes it.
use std::env;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::raw::c_ulong;
use std::os::unix::io::AsRawFd;

const POLLIN: i16 = 0x001;
const POLLOUT: i16 = 0x004;

#[repr(C)]
struct PollFd {
    fd: i32,
    events: i16,
    revents: i16,
}

extern "C" {
    fn poll(fds: *mut PollFd, nfds: c_ulong, timeout: i32) -> i32;
}

struct Client {
    stream: TcpStream,
    pending: Vec<u8>, // echo the socket would not take yet
}

/// Writes `data` as far as the socket takes it and keeps the rest.  Err: drop the client.
fn send(c: &mut Client, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match c.stream.write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    c.pending = data.to_vec();
    Ok(())
}

/// One report on a client: flush its pending echo, or read one buffer and echo it.
fn serve(c: &mut Client, buf: &mut [u8]) -> io::Result<bool> {
    if !c.pending.is_empty() {
        let pending = std::mem::take(&mut c.pending);
        send(c, &pending)?;
        return Ok(true);
    }
    match c.stream.read(buf) {
        Ok(0) => Ok(false),
        Ok(n) => send(c, &buf[..n]).map(|_| true),
        Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => Ok(true),
        Err(e) => Err(e),
    }
}

fn main() -> io::Result<()> {
    let port = env::args().nth(1).expect("usage: server PORT");
    let listener = TcpListener::bind(format!("127.0.0.1:{port}"))?;
    listener.set_nonblocking(true)?;
    // Entry 0 is the listener; entry i + 1 is clients[i].
    let mut fds = vec![PollFd { fd: listener.as_raw_fd(), events: POLLIN, revents: 0 }];
    let mut clients: Vec<Client> = Vec::new();
    let mut buf = vec![0u8; 4096];
    loop {
        if unsafe { poll(fds.as_mut_ptr(), fds.len() as c_ulong, -1) } < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        // Backwards, so that swap_remove only moves entries already looked at.
        for i in (1..fds.len()).rev() {
            if fds[i].revents == 0 {
                continue;
            }
            let c = &mut clients[i - 1];
            if matches!(serve(c, &mut buf), Ok(true)) {
                fds[i].events = if c.pending.is_empty() { POLLIN } else { POLLOUT };
            } else {
                fds.swap_remove(i);
                clients.swap_remove(i - 1); // dropping the stream closes it
            }
        }
        if fds[0].revents != 0 {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(true)?;
                    fds.push(PollFd { fd: stream.as_raw_fd(), events: POLLIN, revents: 0 });
                    clients.push(Client { stream, pending: Vec::new() });
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => eprintln!("accept: {e}"), // ECONNABORTED, EMFILE: keep serving
            }
        }
        for f in fds.iter_mut() {
            f.revents = 0;
        }
    }
}
