/* Model "sigio": signal-driven I/O (O_ASYNC + F_SETOWN), waiting with sigwaitinfo().
 *
 * A socket opts in with two fcntl() calls: F_SETOWN names the process to signal, and
 * F_SETFL with O_ASYNC puts the file on the socket's fasync list.  From then on the kernel
 * raises SIGIO on the owner whenever the socket's wait queue is woken (net/socket.c,
 * sock_wake_async; socket(7), "Signals"): data or a FIN arrives, a handshake completes on
 * a listener, send-buffer space frees up after a send() hit EAGAIN, an error or reset comes
 * in.  Neither setting is inherited: on Linux accept() hands back a socket with no O_ASYNC
 * and no owner (accept(2), NOTES), so each accepted socket gets both, or its client is
 * never heard from.  Nor is data that came before O_ASYNC announced: after enabling it,
 * the socket must be read once unprompted.
 *
 * SIGIO is a standard signal, and standard signals are not queued (signal(7)): while one
 * is pending, more are dropped.  Five arrivals on five sockets can be one SIGIO, and a
 * plain SIGIO does not say which fd it was for (only with F_SETSIG does the kernel queue
 * an RT signal carrying si_fd, falling back to plain SIGIO when that queue overflows).  So
 * a SIGIO means "something happened somewhere", an edge with no address: every wake-up
 * accept()s until EAGAIN and gives every connection a turn, recv() until EAGAIN or EOF and
 * send() until EAGAIN.  A wake-up is O(clients): the price of this model.
 *
 * The textbook does the I/O in a SIGIO handler.  That is fragile: the handler interrupts
 * the program anywhere, may only call async-signal-safe functions, races with the main
 * loop over shared tables, and SIGIO's default action kills the process, so one raised
 * before the handler exists is fatal.  The sane form is synchronous: block SIGIO first,
 * then enable O_ASYNC, and collect it with sigwaitinfo(): the signal stays pending until
 * we ask (none lost between two waits, none fatal), and the I/O runs in the ordinary loop.
 * Only SIGIO is blocked: SIGTERM and SIGINT keep their default action.
 *
 * The trap within the trap is stopping early on purpose, as with EPOLLET: a client read
 * past HIGH_WATER or past its READ_TURN budget still has data that no new SIGIO announces.
 * At HIGH_WATER with send() at EAGAIN, the write-space SIGIO restarts it; otherwise the
 * connection is marked pending and the next wait is a sigtimedwait() with a zero timeout.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"

#define READ_TURN HIGH_WATER /* bytes one client may be read per turn before the others */

/* Reads per turn: READ_TURN bytes in bufsize reads, at least one. */
static size_t reads_per_turn(const struct options *opt)
{
    return opt->bufsize < READ_TURN ? READ_TURN / opt->bufsize : 1;
}

static int enable_sigio(sock_t fd)
{
    int flags;

    /* Owner first: with O_ASYNC set and no owner, an event in between signals nobody. */
    if (fcntl(fd, F_SETOWN, getpid()) != 0 || (flags = fcntl(fd, F_GETFL)) < 0)
        return -1;
    return fcntl(fd, F_SETFL, flags | O_ASYNC);
}

static void accept_all(sock_t listener, struct conn_list *conns, int echo)
{
    sock_t fd;

    /* Until EAGAIN: the next handshake raises a new SIGIO.  On EMFILE the ones left queued
     * raise nothing until another arrives. */
    while ((fd = accept_client(listener)) != BAD_SOCKET) {
        struct conn *c = conn_new(fd, echo); /* O_NONBLOCK is not inherited either */
        if (c == NULL)
            continue;
        if (enable_sigio(fd) != 0) { /* without owner and O_ASYNC: silence */
            conn_close(c);
            continue;
        }
        conn_list_push(conns, c);
    }
}

/* Move what can be moved now: 1 if the connection needs a turn no SIGIO will give, 0 if
 * not, -1 on error. */
static int take_turn(struct conn *c, const struct options *opt)
{
    size_t budget = reads_per_turn(opt);

    if (conn_drain_output(c) < 0) /* first, so the echo makes room below HIGH_WATER */
        return -1;
    while (budget-- > 0 && conn_wants_read(c)) {
        int r = conn_receive(c, opt);
        if (r < 0)
            return -1;
        if (r == 0) /* EAGAIN: the next arrival raises a new SIGIO */
            return conn_drain_output(c) < 0 ? -1 : 0;
    }
    if (conn_drain_output(c) < 0)
        return -1;
    /* Still over HIGH_WATER means send() said EAGAIN, and a write-space SIGIO is due; below
     * it (budget spent, or the echo drained) the unread rest is announced by nothing. */
    return conn_wants_read(c);
}

/* Wait for SIGIO: 1 if one came (anything may have happened, to any socket). */
static int wait_sigio(const sigset_t *sigio, int pending)
{
    static const struct timespec zero = { 0, 0 };

    for (;;) {
        int sig = pending ? sigtimedwait(sigio, NULL, &zero) : sigwaitinfo(sigio, NULL);
        if (sig == SIGIO)
            return 1;
        if (errno == EAGAIN) /* pending, and no signal raised: take the pending turns */
            return 0;
        if (errno != EINTR) {
            perror("sigwaitinfo");
            exit(1);
        }
    }
}

int main(int argc, char **argv)
{
    struct options opt;
    struct conn_list conns = { NULL, 0, 0 };
    sigset_t sigio;
    sock_t listener;
    int signalled = 1, pending = 0;

    parse_args(argc, argv, &opt);
    /* Before any O_ASYNC: SIGIO's default action is to terminate the process. */
    sigemptyset(&sigio);
    sigaddset(&sigio, SIGIO);
    sigprocmask(SIG_BLOCK, &sigio, NULL);
    listener = listen_on(opt.port);
    if (set_nonblocking(listener) != 0 || enable_sigio(listener) != 0) {
        perror("setup");
        return 1;
    }
    /* The first pass is unprompted: a client that connected before O_ASYNC raised nothing. */
    for (;;) {
        size_t i, kept = 0;

        if (signalled) /* new sockets get a turn below, so data that beat O_ASYNC is read */
            accept_all(listener, &conns, opt.echo);
        pending = 0;
        for (i = 0; i < conns.n; i++) {
            struct conn *c = conns.v[i];
            int again = 0;
            /* The signal does not say which socket: after one, everyone gets a turn. */
            if (signalled || c->may_read)
                again = take_turn(c, &opt);
            if (again < 0 || conn_finished(c)) {
                conn_close(c); /* close() also takes it off the fasync list */
                continue;
            }
            c->may_read = again; /* readable, EAGAIN not seen, and no SIGIO will say so */
            pending |= again;
            conns.v[kept++] = c;
        }
        conns.n = kept;
        signalled = wait_sigio(&sigio, pending);
    }
}
