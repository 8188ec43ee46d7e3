"""A print server built on socketserver.TCPServer: one client at a time, the handler
reads its blocking socket until EOF and prints what arrives, as the textbook's
printf("%s\n", buffer) does, but with the bytes exactly (no decoding).

TCPServer serves a connection inside serve_forever() itself, so the next client waits
in the listen backlog (the library's default of 5) until this one disconnects.
"""

import contextlib
import socketserver
import sys


class PrintHandler(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            try:
                data = self.request.recv(1024)
            except ConnectionError:
                return
            if not data:
                return
            sys.stdout.buffer.write(data + b"\n")
            sys.stdout.buffer.flush()


class Server(socketserver.TCPServer):
    allow_reuse_address = True


if __name__ == "__main__":
    address = ("127.0.0.1", int(sys.argv[1]))
    with Server(address, PrintHandler) as server, contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
