// Shape: the net package's own documentation example for net.Listener, nearly word
// for word: Accept in a loop, one goroutine per connection, io.Copy(c, c) to echo.
// Nothing is printed (service echo-only).
//
// Model: epoll-et.  The runtime makes every socket non-blocking and parks a goroutine
// whose read or write got EAGAIN in its netpoller, an epoll set registered with EPOLLET
// (runtime/netpoll_epoll.go).  io.Copy writes each chunk whole before it reads again,
// so a client that does not read its echo stops only its own goroutine.
package main

import (
	"io"
	"log"
	"net"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatalf("usage: %s PORT", os.Args[0])
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	for {
		conn, err := l.Accept()
		if err != nil {
			log.Print(err) // e.g. EMFILE: keep serving the clients we have
			continue
		}
		go func(c net.Conn) {
			io.Copy(c, c)
			c.Close()
		}(conn)
	}
}
