/* common.h: plumbing shared by the C reference servers: the command line, the listening
 * socket, the stdout format, and `struct conn`, the per-client state of the single-threaded
 * multiplexing servers.  When to read and when to write is not decided here: that is what
 * each model's file is about.
 *
 * Exit: SIGTERM and SIGINT keep their default action.  The process dies at once, and the
 * kernel closes every socket it held; there is nothing of ours to flush (emit() flushes
 * each line), so a handler would add code and no behaviour.  Windows has no SIGTERM; the
 * console's Ctrl-C and Ctrl-Break events also keep their default handler, ExitProcess(),
 * and Windows too closes every socket of a process that ends.
 */
#ifndef COMMON_H
#define COMMON_H

#include <stddef.h>

#include "compat.h"

/* Per-connection limit on echo bytes received but not yet sent back.  Above it a server
 * stops reading that client until its output drains: the data waits in kernel buffers and
 * TCP flow control slows the client, so memory stays bounded when a client sends but does
 * not read. */
#define HIGH_WATER (64 * 1024)

struct options {
    int port;
    int echo;       /* --service echo (1) or print (0) */
    size_t bufsize; /* bytes per recv(); 255 by default, like the seed: partial reads happen */
    char *buf;      /* scratch buffer of bufsize bytes, shared by every recv() */
};

/* PORT [--service echo|print] [--bufsize N]; exits with status 2 on a bad command line. */
void parse_args(int argc, char **argv, struct options *opt);

/* A listening socket on 127.0.0.1:port (blocking); exits with status 1 on failure. */
sock_t listen_on(int port);

/* The seed's printf("%s\n", buf), binary-safe: the bytes as received, NUL included. */
void emit(const char *buf, size_t n);

/* Accept one connection.  Returns it, or BAD_SOCKET when none can be had now: EAGAIN on a
 * non-blocking listener, or EMFILE and the like (the connection stays queued). */
sock_t accept_client(sock_t listener);

/* One client of a multiplexing server: its socket and what it is owed. */
struct conn {
    sock_t fd;
    int echo;
    int eof;          /* the client has shut down its sending side */
    char *out;        /* received, not yet sent back: out[head .. len) */
    size_t head, len, cap;
    unsigned interest; /* event mask registered with poll/epoll, to skip needless changes */
    int may_read;      /* edge-style models: input announced, EAGAIN not seen since */
    int queued;        /* edge-style models: already in this round's list of turns */
};

struct conn *conn_new(sock_t fd, int echo); /* makes fd non-blocking; NULL (fd closed) on failure */
void conn_close(struct conn *c);            /* closes the socket and frees the state */

/* After EOF a socket stays readable forever: reading on would spin a level-triggered loop. */
int conn_wants_read(const struct conn *c);
int conn_wants_write(const struct conn *c);
/* EOF seen and everything echoed: time to close (a half-closed client gets its echo). */
int conn_finished(const struct conn *c);

/* One recv(): the bytes read (1 at EOF, which sets c->eof), 0 on EAGAIN, -1 on error
 * (reset: close it). */
int conn_receive(struct conn *c, const struct options *opt);
/* One send() of queued output: 1 when it sent bytes, 0 on EAGAIN, -1 on error. */
int conn_flush(struct conn *c);
/* send() until the queue is empty or EAGAIN: 0, or -1 on error. */
int conn_drain_output(struct conn *c);

/* A growable array of connections, for the servers that keep theirs in a list. */
struct conn_list {
    struct conn **v;
    size_t n, cap;
};

void conn_list_push(struct conn_list *l, struct conn *c);

#endif /* COMMON_H */
