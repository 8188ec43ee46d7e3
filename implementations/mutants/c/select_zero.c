/* MUTANT select_zero (model "select"): the seed's select(0, ...), on POSIX.
 *
 * select()'s first argument is the highest descriptor plus one: the kernel looks at
 * descriptors 0 to nfds - 1 of each set and ignores the rest.  Winsock ignores the
 * argument (its fd_set carries its own count), so the seed's Windows server passes 0
 * and works.  Ported to Linux as it is, select(0, ...) watches no descriptor at all and
 * sleeps forever: the kernel completes every connection into the listen backlog, and the
 * server never accepts one.  Otherwise a copy of ../../c/select.c.
 *
 * Caught by START-1 and ACCEPT-1: a client connects (the kernel accepts it into the
 * backlog) and is never served.
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
        (void)maxfd; /* computed, as in the seed, and then not passed */
        if (select(0, &rd, &wr, NULL, NULL) < 0) { /* DEFECT: nfds 0 watches nothing */
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
