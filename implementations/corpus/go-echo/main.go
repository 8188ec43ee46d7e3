// Shape: the Go echo server as the net package documents it (the net.Listener
// example): Listen, then Accept in a loop and serve each connection on a goroutine
// of its own, read and write back with a plain byte slice, print what came in.
//
// Model: epoll-et.  A goroutine per connection reads like the threaded model, but
// the runtime makes every socket non-blocking and parks a goroutine whose Read got
// EAGAIN in its netpoller, an epoll set registered with EPOLLET (runtime/netpoll_epoll.go).
// A goroutine only parks after a read returned EAGAIN, so "drain to EAGAIN" holds by
// construction.  os.Stdout is unbuffered: each Write is one write(2), nothing to flush.
package main

import (
	"log"
	"net"
	"os"
)

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			os.Stdout.Write(buf[:n])
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // io.EOF or a reset: either way this client is done
			return
		}
	}
}

func main() {
	if len(os.Args) != 2 {
		log.Fatalf("usage: %s PORT", os.Args[0])
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Print(err) // e.g. EMFILE: keep serving the clients we have
			continue
		}
		go serve(c)
	}
}
