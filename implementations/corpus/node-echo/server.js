// Shape: the Node.js echo server as its net documentation teaches it:
// net.createServer with a 'data' listener that prints each chunk and writes it back,
// pausing the socket while the write queue is over its high-water mark (the
// backpressure rule of the stream docs) and resuming on 'drain'.
//
// Model: epoll-lt.  libuv's loop waits in epoll_wait on sockets registered without
// EPOLLET (src/unix/linux.c), level-triggered.  Everything runs on the main thread;
// libuv's thread pool serves files and DNS, never these sockets.
//
// Half-close: allowHalfOpen is false by default, so the client's FIN ends our side
// once every queued write has gone out.  An 'error' listener is required: without
// one, a client's reset (ECONNRESET) would be an uncaught exception and end the
// server for everyone.  stdout to a terminal is written synchronously on POSIX.
'use strict';
const net = require('node:net');

const port = Number(process.argv[2]);
const server = net.createServer((socket) => {
  socket.on('data', (chunk) => {
    process.stdout.write(chunk);
    if (!socket.write(chunk)) socket.pause();
  });
  socket.on('drain', () => socket.resume());
  socket.on('error', () => socket.destroy());
});
server.listen(port, '127.0.0.1');
