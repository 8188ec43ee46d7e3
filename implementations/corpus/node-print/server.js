// Shape: the textbook's print server in Node.js: net.createServer, a 'data'
// listener that prints each chunk followed by a line break, the translation of
// printf("%s\n", buf).  The chunk goes out as bytes (a Buffer), not decoded as text,
// so what was received is what is printed.
//
// Model: epoll-lt.  libuv's loop waits in epoll_wait on sockets registered without
// EPOLLET (src/unix/linux.c), level-triggered, all on the main thread.
//
// stdout to a terminal is written synchronously on POSIX, so the two writes of a
// chunk stay together and nothing waits in a buffer.  The 'error' listener keeps a
// client's reset from being an uncaught exception that would end the server.
'use strict';
const net = require('node:net');

const server = net.createServer((socket) => {
  socket.on('data', (chunk) => {
    process.stdout.write(chunk);
    process.stdout.write('\n');
  });
  socket.on('error', () => socket.destroy());
});
server.listen(Number(process.argv[2]), '127.0.0.1');
