// Shape: an edge-triggered epoll echo server in Rust with std only, the way people
// write one before reaching for mio: std's TcpListener and TcpStream made
// non-blocking, and the three epoll calls declared by hand with extern "C" (libc is
// linked anyway).  Echo and print.
//
// Model: epoll-et.  Every socket is registered once with EPOLLIN | EPOLLOUT | EPOLLET.
// An edge says "something changed", not "how much": after each one the server accepts
// until EAGAIN, and reads each client until EAGAIN.  The trap within the trap is the
// send side: when write() would block, the rest waits in that client's outbox and the
// server stops reading it (memory stays bounded); the EPOLLOUT edge that comes when
// the client reads brings it back, and the outbox is flushed before reading resumes,
// drain to EAGAIN again -- an edge that came while it was not reading is not lost.
use std::collections::HashMap;
use std::env;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::io::AsRawFd;

const EPOLLIN: u32 = 0x001;
const EPOLLOUT: u32 = 0x004;
const EPOLLET: u32 = 1 << 31;
const EPOLL_CTL_ADD: i32 = 1;
const EPOLL_CLOEXEC: i32 = 0o2000000;
const LISTENER: u64 = u64::MAX;

#[repr(C)]
#[cfg_attr(target_arch = "x86_64", repr(packed))] // the kernel's layout on x86-64
#[derive(Clone, Copy)]
struct EpollEvent {
    events: u32,
    data: u64,
}

extern "C" {
    fn epoll_create1(flags: i32) -> i32;
    fn epoll_ctl(epfd: i32, op: i32, fd: i32, event: *mut EpollEvent) -> i32;
    fn epoll_wait(epfd: i32, events: *mut EpollEvent, maxevents: i32, timeout: i32) -> i32;
}

fn watch(ep: i32, fd: i32, events: u32, data: u64) -> io::Result<()> {
    let mut ev = EpollEvent { events, data };
    if unsafe { epoll_ctl(ep, EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

struct Client {
    stream: TcpStream,
    outbox: Vec<u8>, // echo bytes the socket would not take yet
}

/// Writes as much of `data` as the socket takes; keeps the rest.  Ok(false): it would block.
fn send(c: &mut Client, data: &[u8]) -> io::Result<bool> {
    let mut done = 0;
    while done < data.len() {
        match c.stream.write(&data[done..]) {
            Ok(n) => done += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                c.outbox.extend_from_slice(&data[done..]);
                return Ok(false);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// One edge on a client: flush the outbox, then read until EAGAIN.  Ok(false): close it.
fn serve(c: &mut Client, buf: &mut [u8]) -> io::Result<bool> {
    if !c.outbox.is_empty() {
        let pending = std::mem::take(&mut c.outbox);
        if !send(c, &pending)? {
            return Ok(true); // still full: wait for the EPOLLOUT edge
        }
    }
    loop {
        let n = match c.stream.read(buf) {
            Ok(0) => return Ok(false),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(true),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        {
            let mut out = io::stdout().lock();
            out.write_all(&buf[..n])?;
            out.flush()?;
        }
        if !send(c, &buf[..n])? {
            return Ok(true); // stop reading until the client takes its echo
        }
    }
}

fn main() -> io::Result<()> {
    let port = env::args().nth(1).expect("usage: server PORT");
    let listener = TcpListener::bind(format!("127.0.0.1:{port}"))?;
    listener.set_nonblocking(true)?;
    let ep = unsafe { epoll_create1(EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(io::Error::last_os_error());
    }
    watch(ep, listener.as_raw_fd(), EPOLLIN | EPOLLET, LISTENER)?;
    let mut clients: HashMap<u64, Client> = HashMap::new();
    let mut events = [EpollEvent { events: 0, data: 0 }; 64];
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = unsafe { epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, -1) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in &events[..n as usize] {
            let key = ev.data;
            if key == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            stream.set_nonblocking(true)?;
                            let fd = stream.as_raw_fd();
                            watch(ep, fd, EPOLLIN | EPOLLOUT | EPOLLET, fd as u64)?;
                            clients.insert(fd as u64, Client { stream, outbox: Vec::new() });
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::ConnectionAborted => continue,
                        Err(e) => {
                            eprintln!("accept: {e}"); // EMFILE: drop this edge, keep serving
                            break;
                        }
                    }
                }
            } else if let Some(c) = clients.get_mut(&key) {
                if !matches!(serve(c, &mut buf), Ok(true)) {
                    clients.remove(&key); // dropping the stream closes it and leaves the epoll set
                }
            }
        }
    }
}
