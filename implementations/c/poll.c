/* Model "poll": one thread waits in poll() over an array of (fd, events) pairs.
 *
 * poll() is select() with the bitmap replaced by an array of struct pollfd: each entry
 * names a descriptor, the events wanted (POLLIN, POLLOUT) and, on return, those that
 * happened (revents).  Descriptor numbers are no longer bit positions, so there is no
 * FD_SETSIZE: the limit is RLIMIT_NOFILE, like everything else.  POLLHUP and POLLERR are
 * reported whether asked for or not; we answer them by trying the operation, which then
 * fails or reads EOF.  Like select() it is level-triggered, so one bounded recv() per
 * wake-up is enough, and we ask for POLLOUT only while output is pending, or an idle socket
 * would wake us on every call.
 *
 * The trap that remains is cost: every call copies the whole array into the kernel, which
 * checks every entry, and we scan every revents: O(watched) per wake-up even when one
 * descriptor is ready.
 *
 * The seed's fixed array of 20 slots was mostly bugs: its slot search put the same fd in
 * several slots (it broke out only past the highest slot in use); with every slot taken
 * the accepted fd was neither watched nor closed; `--nready < 0` should have been `<= 0`;
 * and the highest slot in use never shrank.  Here the array grows as needed and is
 * compacted as clients leave: entry 0 is the listener, entry i + 1 belongs to conns[i],
 * and the events of each are set from the connection's state before every call.
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
