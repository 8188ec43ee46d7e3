// Shape: the echo server of the Node.js net documentation (net.createServer, then
// c.pipe(c)), without its greeting and logging: echo only, nothing printed.  pipe()
// carries the backpressure: it pauses the socket while its own write queue is full.
//
// Model: epoll-lt.  libuv's loop waits in epoll_wait on sockets registered without
// EPOLLET (src/unix/linux.c), level-triggered, all on the main thread.
//
// The one line the documentation's example lacks and a correct server needs: an
// 'error' listener.  pipe() does not handle the source's errors, so a client's reset
// (ECONNRESET) would otherwise be an uncaught exception and end the server.
'use strict';
const net = require('node:net');

const server = net.createServer((c) => {
  c.on('error', () => c.destroy());
  c.pipe(c);
});
server.on('error', (err) => {
  throw err;
});
server.listen(Number(process.argv[2]), '127.0.0.1');
