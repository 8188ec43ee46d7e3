"""An echo server in the shape of the classic select.select() tutorial: a list of inputs,
a list of outputs and a dict of message queues, one queue.Queue per client.

select() is level-triggered over fd_sets of FD_SETSIZE (1024) bits; Python's
select.select() refuses a descriptor past that with ValueError, which would end the
loop for every client.  So a connection whose descriptor does not fit is closed at once,
and the clients already here go on being served.  Reads are 64 KiB; a client whose echo
is not being read stops being read at 16 queued chunks.
"""

import contextlib
import queue
import select
import socket
import sys

FD_SETSIZE = 1024  # glibc's, fixed at compile time; Python does not export it
MAX_QUEUED = 16


def main(port):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(128)
    server.setblocking(False)
    inputs = [server]
    outputs = []
    message_queues = {}
    ended = set()  # clients that sent EOF: close once their queue is empty

    def drop(s):
        for lst in (inputs, outputs):
            if s in lst:
                lst.remove(s)
        message_queues.pop(s, None)
        ended.discard(s)
        s.close()

    while True:
        readable, writable, exceptional = select.select(inputs, outputs, inputs)
        for s in readable:
            if s is server:
                try:
                    connection, _ = s.accept()
                except OSError:
                    continue
                if connection.fileno() >= FD_SETSIZE:
                    connection.close()  # select() cannot watch it: refuse this client
                    continue
                connection.setblocking(False)
                inputs.append(connection)
                message_queues[connection] = queue.Queue()
                continue
            if s not in message_queues:
                continue  # dropped earlier in this pass
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                drop(s)
                continue
            if data:
                sys.stdout.buffer.write(data + b"\n")
                sys.stdout.buffer.flush()
                q = message_queues[s]
                q.put(data)
                if s not in outputs:
                    outputs.append(s)
                if q.qsize() >= MAX_QUEUED:
                    inputs.remove(s)  # until the client reads its echo
            else:
                inputs.remove(s)
                ended.add(s)
                if s not in outputs:
                    drop(s)
        for s in writable:
            q = message_queues.get(s)
            if q is None:
                continue
            try:
                chunk = q.queue[0]
                n = s.send(chunk)
            except BlockingIOError:
                continue
            except OSError:
                drop(s)
                continue
            if n < len(chunk):
                q.queue[0] = chunk[n:]
                continue
            q.get_nowait()
            if q.empty():
                outputs.remove(s)
                if s in ended:
                    drop(s)
                    continue
            if s not in ended and s not in inputs and q.qsize() < MAX_QUEUED:
                inputs.append(s)
        for s in exceptional:
            if s in message_queues:
                drop(s)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main(int(sys.argv[1]))
