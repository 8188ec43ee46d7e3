/* Model "epoll-lt": epoll, level-triggered (the default: no EPOLLET).
 *
 * epoll splits poll() in two.  The interest list lives in the kernel, set up once per
 * descriptor (epoll_ctl ADD, MOD, DEL) instead of being copied in on every call.  And the
 * kernel keeps a ready list: the socket's wait-queue callback puts the registration there
 * when data, buffer space or an error arrives, so epoll_wait() returns only ready
 * descriptors.  A wake-up costs O(ready), not O(watched): it scales to many idle clients.
 *
 * Level-triggered means epoll_wait() reports a descriptor again on every call for as long
 * as its condition holds.  This server relies on that: one bounded recv(bufsize) per
 * readiness, the rest left in the kernel buffer to be reported next call, after the others
 * have had their turn, so no client monopolises the loop.  The flip side, as with poll: a
 * condition that stays true is reported forever, so EPOLLOUT is in the interest mask only
 * while output is pending, and a client at EOF (readable forever) is no longer read.
 *
 * What epoll registers is the open file description behind the fd, not the number: a
 * registration outlives close() while a dup() of the fd is open, and is removed silently
 * when the last one closes.  So deregister first, then close: the other order makes
 * EPOLL_CTL_DEL fail with EBADF, which the seed never checked.  The seed's loop also used
 * blocking sockets (a stray wake-up would freeze it in recv), treated recv() == -1 as data
 * (buffer[-1] = 0) and wrote buffer[255] on a 255-byte buffer.
 */
#include <stdio.h>
#include <sys/epoll.h>

#include "common.h"

#define MAX_EVENTS 64

static unsigned interest(const struct conn *c)
{
    return (conn_wants_read(c) ? EPOLLIN : 0u) | (conn_wants_write(c) ? EPOLLOUT : 0u);
}

static void accept_all(sock_t listener, int ep, int echo)
{
    sock_t fd;

    while ((fd = accept_client(listener)) != BAD_SOCKET) {
        struct conn *c = conn_new(fd, echo);
        struct epoll_event ev;
        if (c == NULL)
            continue;
        c->interest = EPOLLIN;
        ev.events = c->interest;
        ev.data.ptr = c; /* the listener's is NULL: that is how the loop tells them apart */
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
            conn_close(c);
    }
    /* EAGAIN, or e.g. EMFILE: the connection stays queued, and epoll says so again. */
}

/* Do what epoll said is possible: 1 when the connection is to be closed. */
static int serve(struct conn *c, unsigned events, const struct options *opt)
{
    /* One bounded read: level triggering reports the rest. */
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR) && conn_wants_read(c)
            && conn_receive(c, opt) < 0)
        return 1; /* reset: the peer is gone, and what it was owed with it */
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR) && conn_wants_write(c) && conn_flush(c) < 0)
        return 1;
    return conn_finished(c);
}

int main(int argc, char **argv)
{
    struct options opt;
    struct epoll_event ev, events[MAX_EVENTS];
    sock_t listener;
    int ep;

    parse_args(argc, argv, &opt);
    listener = listen_on(opt.port);
    /* A queued connection can vanish between epoll_wait() and accept(): never block there. */
    if (set_nonblocking(listener) != 0 || (ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        perror("setup");
        return 1;
    }
    ev.events = EPOLLIN;
    ev.data.ptr = NULL;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev) != 0) {
        perror("epoll_ctl");
        return 1;
    }
    for (;;) {
        int i, n = epoll_wait(ep, events, MAX_EVENTS, -1);
        if (n < 0) {
            if (sock_interrupted(sock_errno()))
                continue;
            perror("epoll_wait");
            return 1;
        }
        /* Each registration appears at most once per epoll_wait(): closing a connection
         * cannot leave a stale pointer further down this array. */
        for (i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (c == NULL) {
                accept_all(listener, ep, opt.echo);
            } else if (serve(c, events[i].events, &opt)) {
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL); /* before close, see above */
                conn_close(c);
            } else if (interest(c) != c->interest) {
                c->interest = interest(c);
                ev.events = c->interest;
                ev.data.ptr = c;
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            }
        }
    }
}
