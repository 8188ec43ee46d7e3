/* Model "select": one thread waits in select() for any socket to become ready.
 *
 * select() hands the kernel three sets of descriptors and sleeps until at least one is
 * readable (data, a FIN, or on a listener a completed connection), writable (room in the
 * send buffer) or in error.  It is level-triggered: a socket is reported on every call for
 * as long as its condition holds, so reading only part of what is there is fine: the rest
 * is reported again.  That is also why we ask for writability only while output is
 * pending: an idle socket is always writable, and asking would wake us in a tight loop.
 *
 * The traps:
 * - FD_SETSIZE.  On POSIX an fd_set is a bitmap indexed by descriptor number, fixed at
 *   1024 bits on Linux; FD_SET() on a larger fd writes past it (glibc's fortify aborts).
 *   So a connection whose fd is FD_SETSIZE or more is closed at once: refused, visibly,
 *   rather than accepted and never watched (a client that hangs forever) or passed to
 *   FD_SET (memory corruption that takes every other client down).
 * - On Windows the same name means something else.  A Winsock fd_set is a count and an
 *   array of FD_SETSIZE socket handles, and handles are not small numbers, so the limit is
 *   on how many sockets a set holds.  winsock2.h makes it 64 unless defined first, and its
 *   FD_SET() silently ignores a socket once the array is full: a client accepted and never
 *   watched.  We define 512, as CPython's Windows build does, and refuse (close) a client
 *   when the read set, which also holds the listener, has no room for it.
 * - The first argument is the highest fd plus one: the seed's select(0, ...) works on
 *   Windows, which ignores it, and watches nothing on POSIX.
 * - Cost.  The sets are in-out parameters, rebuilt before every call, copied into the
 *   kernel, scanned there and scanned again by us: O(watched) per wake-up.  Worse with
 *   Winsock, where FD_SET() and FD_ISSET() search the array: O(watched) each.
 *
 * The seed's pool of FD_SETSIZE slots, when full, neither watched nor closed the accepted
 * socket (a hung client and a leaked fd); after an accept it skipped every client readable
 * in the same round; and it wrote buffer[255] on a 255-byte buffer.
 */
#ifdef _WIN32
#define FD_SETSIZE 512 /* before winsock2.h (through common.h), which would make it 64 */
#else
#include <sys/select.h>
#endif
#include <stdio.h>

#include "common.h"

/* Whether select() can watch fd besides the listener and the clients we have. */
static int fits(sock_t fd, size_t clients)
{
#ifdef _WIN32
    (void)fd;
    return clients + 1 < FD_SETSIZE; /* + 1: the listener takes a place in the read set */
#else
    (void)clients;
    return fd < FD_SETSIZE;
#endif
}

static void accept_all(sock_t listener, struct conn_list *conns, int echo)
{
    sock_t fd;

    while ((fd = accept_client(listener)) != BAD_SOCKET) {
        struct conn *c;
        if (!fits(fd, conns->n)) {
            sock_close(fd); /* refuse: the client sees EOF now instead of silence forever */
            continue;
        }
        if ((c = conn_new(fd, echo)) != NULL)
            conn_list_push(conns, c);
    }
}

/* Do what select() said is possible: 1 when the connection is to be closed. */
static int serve(struct conn *c, int readable, int writable, const struct options *opt)
{
    if (readable && conn_receive(c, opt) < 0)
        return 1; /* reset: the peer is gone, and what it was owed with it */
    if (writable && conn_wants_write(c) && conn_flush(c) < 0)
        return 1;
    return conn_finished(c);
}

int main(int argc, char **argv)
{
    struct options opt;
    struct conn_list conns = { NULL, 0, 0 };
    sock_t listener;

    parse_args(argc, argv, &opt);
    listener = listen_on(opt.port);
    /* A queued connection can vanish between select() and accept(): never block there. */
    if (set_nonblocking(listener) != 0)
        return 1;
    for (;;) {
        fd_set rd, wr;
        sock_t maxfd = listener;
        size_t i, kept = 0;

        FD_ZERO(&rd);
        FD_ZERO(&wr);
        FD_SET(listener, &rd);
        for (i = 0; i < conns.n; i++) { /* every one fits in the sets: see accept_all */
            struct conn *c = conns.v[i];
            if (conn_wants_read(c))
                FD_SET(c->fd, &rd);
            if (conn_wants_write(c))
                FD_SET(c->fd, &wr);
            if (c->fd > maxfd)
                maxfd = c->fd;
        }
        if (select((int)(maxfd + 1), &rd, &wr, NULL, NULL) < 0) {
            if (sock_interrupted(sock_errno()))
                continue;
            sock_perror("select");
            return 1;
        }
        for (i = 0; i < conns.n; i++) {
            struct conn *c = conns.v[i];
            if (serve(c, FD_ISSET(c->fd, &rd), FD_ISSET(c->fd, &wr), &opt))
                conn_close(c);
            else
                conns.v[kept++] = c;
        }
        conns.n = kept;
        /* After the clients, so that the sets still describe every fd we test above. */
        if (FD_ISSET(listener, &rd))
            accept_all(listener, &conns, opt.echo);
    }
}
