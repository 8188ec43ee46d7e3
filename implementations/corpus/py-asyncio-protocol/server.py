"""An echo server in the shape of asyncio's documentation example (EchoServerProtocol:
data_received() writes the data back to the transport), plus the flow control the
documentation describes and the example leaves out.

asyncio's default event loop on Linux is a selector loop over epoll, registered without
EPOLLET: level-triggered.  transport.write() sends what the kernel takes and buffers
the rest; when that buffer passes its high-water mark asyncio calls pause_writing(),
and this protocol then stops reading the client until resume_writing(), so a client
that sends without reading cannot make the server buffer without bound.
"""

import asyncio
import contextlib
import sys


class EchoServerProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        sys.stdout.buffer.write(b"Data received: " + data + b"\n")
        sys.stdout.buffer.flush()
        self.transport.write(data)

    def eof_received(self):
        # The client half-closed.  close() sends what is still buffered first, then
        # closes; returning False would have asyncio close at once.
        self.transport.close()
        return True

    def connection_lost(self, exc):
        pass

    def pause_writing(self):
        self.transport.pause_reading()

    def resume_writing(self):
        self.transport.resume_reading()


async def main(port):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(EchoServerProtocol, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(int(sys.argv[1])))
