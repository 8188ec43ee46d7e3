/* Model "epoll-et": epoll, edge-triggered (EPOLLET).
 *
 * With EPOLLET, epoll_wait() reports a descriptor when something *happens* to it (bytes
 * arrive, send-buffer space frees up after a send() hit EAGAIN, a connection completes)
 * and then not again until something else happens.  Nothing is re-checked for us, so each
 * registration is made once, for EPOLLIN | EPOLLOUT | EPOLLRDHUP, and never modified.
 *
 * The rule that follows: on a notification, keep going until the kernel says EAGAIN.
 * - Listener: accept() until EAGAIN.  Ten connections completing together may be one
 *   notification; accepting one leaves nine queued, unannounced until an eleventh.
 * - Client: recv() until EAGAIN or EOF.  Read 255 bytes of a 64 KiB burst and the rest
 *   sits in the kernel buffer with no edge to come: the client waits for its echo, we
 *   wait for a notification, and both wait forever.
 * - Output: send() until the queue is empty or EAGAIN; only an EAGAIN arms the next
 *   EPOLLOUT edge.
 * Draining until EAGAIN is also why ET needs non-blocking sockets: on a blocking one the
 * last recv(), the one that should say "empty", sleeps instead and freezes every client.
 *
 * The trap within the trap is stopping early on purpose.  A turn does not read a client
 * whose queued echo exceeds HIGH_WATER (memory), and ends after READ_TURN bytes
 * (fairness: a fast sender would otherwise keep the loop to itself); the queue thus stays
 * within HIGH_WATER + READ_TURN.  Either way data is still readable and no new edge will
 * say so: ET plus stop-reading is a lost wake-up.  So each connection remembers may_read
 * (an input edge came, EAGAIN not seen since), and:
 * - stopped at HIGH_WATER with send() at EAGAIN: the EPOLLOUT edge that comes when the
 *   client reads its echo gives the connection its next turn, and draining resumes there;
 * - otherwise (budget spent, a short read, or the echo drained): the connection goes on a
 *   pending list, which makes the next epoll_wait() non-blocking (timeout 0) and gives it
 *   another turn after everyone else's.
 *
 * What draining costs, and what it need not.  Some recv() must fail with EAGAIN, and only
 * that clears may_read: a short read does not prove the buffer empty.  But a short read
 * may end the *turn*: the failing read then comes in the next round, after the others'
 * turns, when a request-reply client has often sent its next request.  A full read, on
 * the other hand, says more is probably queued: the turn reads on (up to READ_TURN, four
 * 64 KiB buffers) before sending, so the echo of all four leaves in one send().  Each
 * send() runs the loopback delivery and wakes the client once, whatever its size, and at
 * bulk that is much of what the kernel charges us.  Bulk echo here, medians of 5
 * alternating runs: 1,701 MB/s (the load generator's own limit), against 1,414 with two
 * reads per send() and 1,109 with one.
 */
#include <stdio.h>
#include <sys/epoll.h>

#include "common.h"

#define MAX_EVENTS 64
/* Bytes one client may be read per turn before the others: four 64 KiB reads, whose echo
 * leaves in one send(). */
#define READ_TURN (256 * 1024)

/* Reads per turn: READ_TURN bytes in bufsize reads, at least one. */
static size_t reads_per_turn(const struct options *opt)
{
    return opt->bufsize < READ_TURN ? READ_TURN / opt->bufsize : 1;
}
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

/* recv() until EAGAIN, EOF, HIGH_WATER, a short read or the turn's budget: -1 on error. */
static int read_turn(struct conn *c, const struct options *opt)
{
    size_t budget = reads_per_turn(opt);

    if (!conn_wants_read(c))
        return 0; /* EOF, or HIGH_WATER: may_read stays set for when the echo drains */
    while (budget-- > 0) {
        int r;
        if ((r = conn_receive(c, opt)) <= 0) {
            if (r == 0)
                c->may_read = 0; /* EAGAIN: the next arrival is a new edge */
            return r;
        }
        if (c->eof || (size_t)r < opt->bufsize)
            return 0; /* the turn ends, not the draining: EAGAIN is read in a later round */
    }
    return 0;
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
