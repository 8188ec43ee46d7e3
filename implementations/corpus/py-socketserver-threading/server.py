"""An echo server built on socketserver.ThreadingTCPServer, as the library documentation
shows it: a BaseRequestHandler whose handle() loops recv()/sendall() on a blocking socket,
one thread per connection.

The shapes that make it correct rather than merely working: daemon_threads (a client
still connected does not hold the process at exit), allow_reuse_address (a restart does
not wait for TIME_WAIT), the library's default backlog of 5 (request_queue_size: a burst
of connections beyond it is retried by the clients' TCP, and all are accepted), and one
write of the whole line under a lock, so two threads' chunks never interleave.
"""

import contextlib
import socketserver
import sys
import threading

print_lock = threading.Lock()


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self):
        host, port = self.client_address[:2]
        tag = f"{host}:{port} > ".encode()
        while True:
            try:
                data = self.request.recv(4096)
            except ConnectionError:
                return
            if not data:
                return  # the client sent FIN: handle() returns and the server closes us
            with print_lock:
                sys.stdout.buffer.write(tag + data + b"\n")
                sys.stdout.buffer.flush()
            try:
                self.request.sendall(data)
            except ConnectionError:
                return


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


if __name__ == "__main__":
    address = ("127.0.0.1", int(sys.argv[1]))
    with Server(address, EchoHandler) as server, contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
