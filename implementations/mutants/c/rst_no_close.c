/* MUTANT rst_no_close (model "poll"): a reset client is dropped, and its fd never closed.
 *
 * The error path written as "remove it from the array": recv() or send() fails with
 * ECONNRESET or EPIPE, the server forgets the client and frees what it owed it, and
 * never calls close().  EOF is handled right, so clients that say goodbye are fine;
 * each client that resets leaks a descriptor, until accept() fails with EMFILE.  The
 * leaked socket is not even visible in the kernel's connection table (a reset socket
 * is in state CLOSE, unlisted in /proc/net/tcp): only the process's descriptors show
 * it.  Otherwise a copy of ../../c/poll.c.
 *
 * Caught by DISCONNECT-2 (a reset client's socket is closed) and LEAK-1 (descriptors
 * return to their count after clients came and went, some by RST).
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"

static void accept_all(sock_t listener, struct conn_list *conns, int echo)
{
    sock_t fd;

    while ((fd = accept_client(listener)) != BAD_SOCKET) {
        struct conn *c = conn_new(fd, echo);
        if (c != NULL)
            conn_list_push(conns, c);
    }
    /* EAGAIN, or e.g. EMFILE: the connection stays queued and poll() says so again. */
}

enum { KEEP, CLOSE, FORGET };

/* Do what poll() said is possible: CLOSE at EOF, FORGET after an error. */
static int serve(struct conn *c, short revents, const struct options *opt)
{
    if (revents & (POLLIN | POLLHUP | POLLERR) && conn_wants_read(c)
            && conn_receive(c, opt) < 0)
        return FORGET; /* reset: the peer is gone, and what it was owed with it */
    if (revents & (POLLOUT | POLLHUP | POLLERR) && conn_wants_write(c) && conn_flush(c) < 0)
        return FORGET;
    return conn_finished(c) ? CLOSE : KEEP;
}

/* DEFECT: the error path drops the client from the array and never close()s its fd. */
static void forget(struct conn *c)
{
    free(c->out);
    free(c);
}

/* Make room for the listener plus n clients; the array only grows. */
static struct pollfd *reserve(struct pollfd *pfds, size_t *cap, size_t n)
{
    if (n + 1 > *cap) {
        *cap = 2 * (n + 1);
        pfds = realloc(pfds, *cap * sizeof *pfds);
        if (pfds == NULL) {
            perror("realloc");
            exit(1);
        }
    }
    return pfds;
}

int main(int argc, char **argv)
{
    struct options opt;
    struct conn_list conns = { NULL, 0, 0 };
    struct pollfd *pfds = NULL;
    size_t cap = 0;
    sock_t listener;

    parse_args(argc, argv, &opt);
    listener = listen_on(opt.port);
    /* A queued connection can vanish between poll() and accept(): never block there. */
    if (set_nonblocking(listener) != 0)
        return 1;
    for (;;) {
        size_t i, kept = 0;

        pfds = reserve(pfds, &cap, conns.n);
        pfds[0].fd = listener;
        pfds[0].events = POLLIN;
        for (i = 0; i < conns.n; i++) {
            struct conn *c = conns.v[i];
            pfds[i + 1].fd = c->fd;
            pfds[i + 1].events = (short)((conn_wants_read(c) ? POLLIN : 0)
                                         | (conn_wants_write(c) ? POLLOUT : 0));
        }
        if (poll(pfds, (nfds_t)(conns.n + 1), -1) < 0) {
            if (sock_interrupted(sock_errno()))
                continue;
            perror("poll");
            return 1;
        }
        for (i = 0; i < conns.n; i++) {
            struct conn *c = conns.v[i];
            int what = serve(c, pfds[i + 1].revents, &opt);
            if (what == CLOSE)
                conn_close(c); /* nothing to unregister: the next array simply omits it */
            else if (what == FORGET)
                forget(c);
            else
                conns.v[kept++] = c;
        }
        conns.n = kept;
        if (pfds[0].revents & POLLIN)
            accept_all(listener, &conns, opt.echo);
    }
}
