"""A thread-per-client echo server written with threading.Thread directly, printing
nothing: the shape of countless "Python socket server" tutorials, with their bugs out.

Each client gets a daemon thread (so a connected client does not keep the process alive
at exit) that recv_into()s a 64 KiB buffer and sendall()s the bytes back; sendall()
loops over partial sends itself.  The thread closes its socket when the client sends FIN
or resets.  Nothing is printed: service "echo-only".
"""

import socket
import sys
import threading


def serve(conn):
    buf = bytearray(65536)
    view = memoryview(buf)
    with conn:
        while True:
            try:
                n = conn.recv_into(buf)
                if n == 0:
                    return
                conn.sendall(view[:n])
            except OSError:  # reset by the client, broken pipe
                return


def main(port):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(socket.SOMAXCONN)
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:  # ECONNABORTED, EMFILE: the next client may do
            continue
        try:
            threading.Thread(target=serve, args=(conn,), daemon=True).start()
        except RuntimeError:  # no thread to be had: refuse this client, keep the others
            conn.close()


if __name__ == "__main__":
    try:
        main(int(sys.argv[1]))
    except KeyboardInterrupt:
        sys.exit(0)
