// Shape: the "epoll from scratch in Go" server of many blog posts: skip the net package
// and drive the syscall package's EpollCreate1/EpollCtl/EpollWait by hand in one
// goroutine, over a listening socket made with syscall.Socket.  Echo and print.
//
// Model: epoll-lt.  Sockets are registered without EPOLLET: each turn reads one buffer
// from a ready client, and a client with more to send is reported again.  When the echo
// does not fit the socket, the rest waits in that client's pending slice and its
// interest switches from EPOLLIN to EPOLLOUT (EPOLL_CTL_MOD), so the server stops reading
// it until its echo is out: memory stays bounded.
//
// Go-specific traps: the runtime preempts goroutines with SIGURG, so EpollWait and
// friends fail with EINTR now and then and must simply be retried; and os.Stdout is
// unbuffered, so each chunk printed is one write(2).
package main

import (
	"log"
	"os"
	"strconv"
	"syscall"
)

type client struct{ pending []byte }

func retry(err error) bool { return err == syscall.EINTR }

func listen(port int) int {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		log.Fatal(err)
	}
	syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	addr := &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}
	if err := syscall.Bind(fd, addr); err != nil {
		log.Fatal(err)
	}
	if err := syscall.Listen(fd, 128); err != nil {
		log.Fatal(err)
	}
	return fd
}

func watch(ep, fd int, op int, events uint32) {
	ev := syscall.EpollEvent{Events: events, Fd: int32(fd)}
	if err := syscall.EpollCtl(ep, op, fd, &ev); err != nil {
		log.Fatal(err)
	}
}

// send writes what the socket takes; the rest becomes c.pending.  false: drop the client.
func send(ep, fd int, c *client, data []byte) bool {
	for len(data) > 0 {
		n, err := syscall.Write(fd, data)
		if err == syscall.EAGAIN {
			c.pending = append(c.pending[:0], data...)
			watch(ep, fd, syscall.EPOLL_CTL_MOD, syscall.EPOLLOUT)
			return true
		}
		if retry(err) {
			continue
		}
		if err != nil {
			return false
		}
		data = data[n:]
	}
	if c.pending != nil {
		c.pending = nil
		watch(ep, fd, syscall.EPOLL_CTL_MOD, syscall.EPOLLIN)
	}
	return true
}

func main() {
	if len(os.Args) != 2 {
		log.Fatalf("usage: %s PORT", os.Args[0])
	}
	port, err := strconv.Atoi(os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	ln := listen(port)
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		log.Fatal(err)
	}
	watch(ep, ln, syscall.EPOLL_CTL_ADD, syscall.EPOLLIN)
	clients := map[int]*client{}
	events := make([]syscall.EpollEvent, 64)
	buf := make([]byte, 4096)
	for {
		n, err := syscall.EpollWait(ep, events, -1)
		if retry(err) {
			continue
		}
		if err != nil {
			log.Fatal(err)
		}
		for _, ev := range events[:n] {
			fd := int(ev.Fd)
			if fd == ln {
				nfd, _, err := syscall.Accept4(ln, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
				if err == nil { // EAGAIN, ECONNABORTED, EMFILE: try again on the next report
					clients[nfd] = &client{}
					watch(ep, nfd, syscall.EPOLL_CTL_ADD, syscall.EPOLLIN)
				}
				continue
			}
			c := clients[fd]
			if c == nil {
				continue
			}
			ok := true
			if c.pending != nil {
				ok = send(ep, fd, c, c.pending)
			} else {
				r, err := syscall.Read(fd, buf)
				switch {
				case err == syscall.EAGAIN || retry(err):
				case err != nil || r == 0: // reset, or EOF: closing also leaves the epoll set
					ok = false
				default:
					os.Stdout.Write(buf[:r])
					ok = send(ep, fd, c, buf[:r])
				}
			}
			if !ok {
				syscall.Close(fd)
				delete(clients, fd)
			}
		}
	}
}
