/* MUTANT et_no_drain (model "epoll-et"): EPOLLET with one recv() per notification.
 *
 * The seed's epoll server reads once per event (`int ret = recv(events[i].data.fd, buffer,
 * BUFF_SIZE, 0)`) and its text says ET "only supports non-blocking" without saying why.  A
 * student who adds EPOLLET and O_NONBLOCK to it, and nothing else, reads one 255-byte
 * buffer per edge and takes the socket for drained.  The rest of a burst sits in the
 * kernel with no edge to announce it: the client waits for its echo, the server for a
 * notification.  Otherwise a copy of ../../c/epoll_et.c (the C counterpart of the Python
 * mutant et_no_drain.py).
 *
 * Caught by ET-1 (a burst larger than one read is never consumed completely) and ET-3
 * (the syscall trace shows epoll_wait() after a recv() that did not return EAGAIN).
 */
#include <stdio.h>
#include <sys/epoll.h>

#include "common.h"

#define MAX_EVENTS 64

#define INPUT_EVENTS (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)

static void accept_all(sock_t listener, int ep, int echo)
{
    sock_t fd;

    /* Until EAGAIN: the next connection brings a new edge.  On EMFILE the ones left queued
     * get no edge until another arrives; a production server keeps a spare fd to accept
     * and close them. */
    while ((fd = accept_client(listener)) != BAD_SOCKET) {
        struct conn *c = conn_new(fd, echo);
        struct epoll_event ev;
        if (c == NULL)
            continue;
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.ptr = c;
        /* Registration checks readiness once, so data that beat us here is not missed. */
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
            conn_close(c);
    }
}

/* One recv() per notification: -1 on error. */
static int read_turn(struct conn *c, const struct options *opt)
{
    int r = conn_wants_read(c) ? conn_receive(c, opt) : 0;

    c->may_read = 0; /* DEFECT: taken for drained after one read, EAGAIN or not */
    return r < 0 ? -1 : 0;
}

/* Move what can be moved now: 1 if the connection needs a turn no edge will give, 0 if
 * not, -1 on error. */
static int take_turn(struct conn *c, const struct options *opt)
{
    if (conn_drain_output(c) < 0) /* first, so the echo makes room below HIGH_WATER */
        return -1;
    if (c->may_read && read_turn(c, opt) < 0)
        return -1;
    if (conn_drain_output(c) < 0)
        return -1;
    /* Output still queued means send() said EAGAIN, and an EPOLLOUT edge is due. */
    return c->may_read && conn_wants_read(c);
}

int main(int argc, char **argv)
{
    struct options opt;
    struct epoll_event ev, events[MAX_EVENTS];
    struct conn_list turns = { NULL, 0, 0 };
    struct conn_list pending = { NULL, 0, 0 }; /* readable data no edge will announce */
    sock_t listener;
    int ep;

    parse_args(argc, argv, &opt);
    listener = listen_on(opt.port);
    if (set_nonblocking(listener) != 0 || (ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        perror("setup");
        return 1;
    }
    ev.events = EPOLLIN | EPOLLET;
    ev.data.ptr = NULL; /* NULL marks the listener */
    if (epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev) != 0) {
        perror("epoll_ctl");
        return 1;
    }
    for (;;) {
        struct conn_list swap;
        size_t i;
        int n = epoll_wait(ep, events, MAX_EVENTS, pending.n ? 0 : -1);

        if (n < 0) {
            if (!sock_interrupted(sock_errno())) {
                perror("epoll_wait");
                return 1;
            }
            n = 0; /* the pending connections still get their turn */
        }
        /* This round's turns: last round's pending ones, then every notified one, each once
         * (`queued` marks those already listed). */
        swap = turns;
        turns = pending;
        pending = swap;
        pending.n = 0;
        for (i = 0; i < (size_t)n; i++) {
            struct conn *c = events[i].data.ptr;
            if (c == NULL) {
                accept_all(listener, ep, opt.echo);
                continue;
            }
            if (events[i].events & INPUT_EVENTS)
                c->may_read = 1;
            if (!c->queued) {
                c->queued = 1;
                conn_list_push(&turns, c);
            }
        }
        for (i = 0; i < turns.n; i++) {
            struct conn *c = turns.v[i];
            int again = take_turn(c, &opt);
            c->queued = 0;
            if (again < 0 || conn_finished(c)) {
                /* Reset, broken pipe, or done.  Deregister before close: afterwards the fd
                 * no longer names the registration. */
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                conn_close(c);
            } else if (again) {
                c->queued = 1;
                conn_list_push(&pending, c);
            }
        }
    }
}
