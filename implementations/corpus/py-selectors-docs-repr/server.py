"""The selectors documentation's echo server, as people copy it: the accept() and read()
callbacks, recv(1000), and the log lines print('accepted', conn, 'from', addr) and
print('echoing', repr(data), 'to', conn) -- the chunk shown as Python's bytes repr,
b'...', between other text on its line.

Two changes make it correct.  print() writes to a pipe here, and a pipe is block-
buffered (sys.stdout is line-buffered only on a terminal), so each print flushes.  And
the documentation's conn.send(data) "hope it won't block" drops whatever send() does not
take; here the rest waits in a per-connection buffer, EVENT_WRITE is watched while it is
not empty, and reading pauses while 64 KiB wait.  DefaultSelector is epoll on Linux,
level-triggered.
"""

import selectors
import socket
import sys

HIGH_WATER = 64 * 1024
sel = selectors.DefaultSelector()
pending = {}  # conn -> bytearray of echo not yet sent
ended = set()  # conns that sent EOF


def accept(sock, mask):
    try:
        conn, addr = sock.accept()  # Should be ready
    except OSError:
        return
    print('accepted', conn, 'from', addr, flush=True)
    conn.setblocking(False)
    pending[conn] = bytearray()
    sel.register(conn, selectors.EVENT_READ, read)


def close(conn):
    print('closing', conn, flush=True)
    sel.unregister(conn)
    pending.pop(conn, None)
    ended.discard(conn)
    conn.close()


def read(conn, mask):
    out = pending[conn]
    try:
        if mask & selectors.EVENT_READ:
            data = conn.recv(1000)  # Should be ready
            if data:
                print('echoing', repr(data), 'to', conn, flush=True)
                out += data
            else:
                ended.add(conn)
        if out:
            del out[:conn.send(out)]
    except BlockingIOError:
        pass
    except OSError:
        close(conn)
        return
    events = 0
    if conn not in ended and len(out) < HIGH_WATER:
        events |= selectors.EVENT_READ
    if out:
        events |= selectors.EVENT_WRITE
    if not events:
        close(conn)
    else:
        sel.modify(conn, events, read)


sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(('localhost', int(sys.argv[1])))
sock.listen(100)
sock.setblocking(False)
sel.register(sock, selectors.EVENT_READ, accept)

try:
    while True:
        events = sel.select()
        for key, mask in events:
            callback = key.data
            callback(key.fileobj, mask)
except KeyboardInterrupt:
    pass
