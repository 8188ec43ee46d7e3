/* MUTANT nonblock_one_at_a_time (model "nonblocking"): the seed's polling loop, one client
 * at a time.
 *
 * Mirrors the seed's nonblocking server: acceptLoop() polls accept() and, when it gets a
 * client, calls handleFunc(), which polls that client's recv() (sleeping on WSAEWOULDBLOCK)
 * until it leaves, and only then returns to accept().  Every socket is non-blocking and
 * every step is right, but the loop over clients is missing: a concurrent model that serves
 * like the blocking one.  Otherwise a copy of ../../c/nonblocking.c.
 *
 * Caught by ACCEPT-2 (twenty clients connected at once: only the first is served while it
 * stays connected) and the other clauses that need two clients at the same time (PRINT-2,
 * FAIRNESS-1, FAIRNESS-2).
 */
#include "common.h"

#define IDLE_SLEEP_MS 10

/* Try once what the connection wants: 1 if the kernel moved anything, -1 on error. */
static int step(struct conn *c, const struct options *opt)
{
    int moved = 0, r;

    if (conn_wants_read(c)) {
        if ((r = conn_receive(c, opt)) < 0)
            return -1;
        moved |= r;
    }
    if (conn_wants_write(c)) {
        if ((r = conn_flush(c)) < 0)
            return -1;
        moved |= r;
    }
    return moved;
}

/* DEFECT: polls this one client until it is done; nobody else is looked at meanwhile. */
static void serve_client(struct conn *c, const struct options *opt)
{
    for (;;) {
        int r = step(c, opt);
        if (r < 0 || conn_finished(c))
            break;
        if (r == 0)
            sleep_ms(IDLE_SLEEP_MS);
    }
    conn_close(c);
}

int main(int argc, char **argv)
{
    struct options opt;
    sock_t listener;

    parse_args(argc, argv, &opt);
    listener = listen_on(opt.port);
    if (set_nonblocking(listener) != 0)
        return 1;
    for (;;) {
        sock_t fd = accept_client(listener);
        struct conn *c;
        if (fd == BAD_SOCKET) {
            sleep_ms(IDLE_SLEEP_MS); /* EAGAIN: nobody is waiting */
            continue;
        }
        if ((c = conn_new(fd, opt.echo)) != NULL)
            serve_client(c, &opt);
    }
}
