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
 * - The first argument is the highest fd plus one: the seed's select(0, ...) works on
 *   Windows, which ignores it, and watches nothing on POSIX.
 * - Cost.  The sets are in-out parameters, rebuilt before every call, copied into the
 *   kernel, scanned there and scanned again by us: O(watched) per wake-up.
 *
 * The seed's pool of FD_SETSIZE slots, when full, neither watched nor closed the accepted
 * socket (a hung client and a leaked fd); after an accept it skipped every client readable
 * in the same round; and it wrote buffer[255] on a 255-byte buffer.
 */
#include <stdio.h>
#include <sys/select.h>

#include "common.h"

static void accept_all(sock_t listener, struct conn_list *conns, int echo)
{
    sock_t fd;

    while ((fd = accept_client(listener)) != BAD_SOCKET) {
        struct conn *c;
        if (fd >= FD_SETSIZE) {
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
        for (i = 0; i < conns.n; i++) { /* every fd here is below FD_SETSIZE: accept_all */
            struct conn *c = conns.v[i];
            if (conn_wants_read(c))
                FD_SET(c->fd, &rd);
            if (conn_wants_write(c))
                FD_SET(c->fd, &wr);
            if (c->fd > maxfd)
                maxfd = c->fd;
        }
        if (select(maxfd + 1, &rd, &wr, NULL, NULL) < 0) {
            if (sock_interrupted(sock_errno()))
                continue;
            perror("select");
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
