/* MUTANT pool_leak (model "select"): a client the pool has no room for is dropped on the
 * floor, neither watched nor closed.
 *
 * Mirrors the seed's select server, MultiplexingSocket(): the accepted socket goes into the
 * first free slot of GlobSocksPool[FD_SETSIZE]; when no slot is free the for loop simply
 * ends and the socket is forgotten.  Here the "pool" is what select() can watch: a
 * descriptor of FD_SETSIZE or more cannot go into an fd_set.  The reference closes such a
 * client; this one skips it, so the client waits forever for an answer or an EOF that never
 * comes, and its descriptor leaks.  Otherwise a copy of ../../c/select.c.
 *
 * Caught by CAPACITY-1 (past FD_SETSIZE the extra clients must be refused or closed).
 */
#ifdef _WIN32
#define FD_SETSIZE 512
#else
#include <sys/select.h>
#endif
#include <stdio.h>

#include "common.h"

static int fits(sock_t fd, size_t clients)
{
#ifdef _WIN32
    (void)fd;
    return clients + 1 < FD_SETSIZE;
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
        if (!fits(fd, conns->n))
            continue; /* DEFECT: the pool is full, and the socket is neither kept nor closed */
        if ((c = conn_new(fd, echo)) != NULL)
            conn_list_push(conns, c);
    }
}

static int serve(struct conn *c, int readable, int writable, const struct options *opt)
{
    if (readable && conn_receive(c, opt) < 0)
        return 1;
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
    if (set_nonblocking(listener) != 0)
        return 1;
    for (;;) {
        fd_set rd, wr;
        sock_t maxfd = listener;
        size_t i, kept = 0;

        FD_ZERO(&rd);
        FD_ZERO(&wr);
        FD_SET(listener, &rd);
        for (i = 0; i < conns.n; i++) {
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
        if (FD_ISSET(listener, &rd))
            accept_all(listener, &conns, opt.echo);
    }
}
