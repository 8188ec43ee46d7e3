// Shape: the Go version of the textbook's print server, as students write it: a
// goroutine per connection reading into a byte slice and printing each chunk with
// fmt.Printf("%s\n", ...), the translation of printf("%s\n", buf).
//
// Model: epoll-et.  The runtime makes every socket non-blocking and parks a goroutine
// whose Read got EAGAIN in its netpoller, an epoll set registered with EPOLLET
// (runtime/netpoll_epoll.go).  fmt.Printf on os.Stdout formats into one buffer and
// issues one write(2), so two clients' lines never interleave and nothing waits in a
// buffer to be flushed.
package main

import (
	"fmt"
	"log"
	"net"
	"os"
)

func handle(conn net.Conn) {
	defer conn.Close()
	buf := make([]byte, 1024)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			fmt.Printf("%s\n", buf[:n])
		}
		if err != nil { // io.EOF when the client is done, or a reset
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
		conn, err := ln.Accept()
		if err != nil {
			log.Print(err)
			continue
		}
		go handle(conn)
	}
}
