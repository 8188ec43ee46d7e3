/* MUTANT fixed_port (model "poll"): listens on the seed's port 3000, whatever it is told.
 *
 * The seed's Linux poll server has `#define PORT 3000` and no command line at all.  A
 * student who keeps it gets a server that works when tried by hand (on port 3000) and
 * that no grader, test or second copy of it can reach on the port it was given: the
 * harness, like any other client, connects to {port}.  Otherwise a copy of
 * ../../c/poll.c: parse_args() still reads the port, and nobody uses it.
 *
 * Caught by START-1 (nothing listens on {port}; the failure names the port the server
 * listens on instead), and so by every clause after it.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"

#define PORT 3000 /* DEFECT: the seed's fixed port; the command line's is ignored */

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

/* Do what poll() said is possible: 1 when the connection is to be closed. */
static int serve(struct conn *c, short revents, const struct options *opt)
{
    if (revents & (POLLIN | POLLHUP | POLLERR) && conn_wants_read(c)
            && conn_receive(c, opt) < 0)
        return 1; /* reset: the peer is gone, and what it was owed with it */
    if (revents & (POLLOUT | POLLHUP | POLLERR) && conn_wants_write(c) && conn_flush(c) < 0)
        return 1;
    return conn_finished(c);
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
    listener = listen_on(PORT);
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
            if (serve(c, pfds[i + 1].revents, &opt))
                conn_close(c); /* nothing to unregister: the next array simply omits it */
            else
                conns.v[kept++] = c;
        }
        conns.n = kept;
        if (pfds[0].revents & POLLIN)
            accept_all(listener, &conns, opt.echo);
    }
}
