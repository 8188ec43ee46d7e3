/* Model "nonblocking": non-blocking sockets polled in one loop, with a short sleep.
 *
 * A socket in non-blocking mode (O_NONBLOCK; FIONBIO on Windows) never puts the thread to
 * sleep.  When a call cannot make progress the kernel fails it at once with EAGAIN /
 * EWOULDBLOCK: accept() with an empty listen queue, recv() with no data, send() with a
 * full send buffer.  One thread can therefore walk over every socket in turn, trying each
 * operation and moving on when the answer is "not now".
 *
 * The trap is the walk itself.  The kernel knows which sockets are ready but is never
 * asked; we find out by trying them all, one system call each, every pass.  With no sleep
 * an idle server burns a whole core making failing calls.  With one, each idle pass costs
 * O(clients) calls and a client that becomes ready waits up to the sleep to be noticed.
 * We sleep 10 ms, and only after a pass that moved no byte at all.  Asking the kernel to
 * do the waiting is what select, poll and epoll are for.
 *
 * The seed slept a second whenever accept() said WSAEWOULDBLOCK, then served the client it
 * got to the end inside the accept loop, sleeping 100 ms per WSAEWOULDBLOCK: one client at
 * a time, like the blocking model but slower.  Here every client gets a step every pass.
 *
 * Rules every multiplexing server here follows: never a blocking send (one client that
 * does not read would freeze all the others), so each connection queues its unsent echo;
 * stop reading a client whose queue exceeds HIGH_WATER; after EOF, finish the echo, then
 * close.
 */
#include "common.h"

#define IDLE_SLEEP_MS 10 /* bounds both the idle CPU cost and the latency of noticing a client */

/* Accept every queued connection; 1 if there was at least one. */
static int accept_all(sock_t listener, struct conn_list *conns, int echo)
{
    int accepted = 0;
    sock_t fd;

    while ((fd = accept_client(listener)) != BAD_SOCKET) {
        struct conn *c = conn_new(fd, echo);
        if (c != NULL)
            conn_list_push(conns, c);
        accepted = 1;
    }
    return accepted; /* EAGAIN, or e.g. EMFILE: the connection stays queued for next pass */
}

/* Try once what the connection wants: 1 if the kernel moved anything, -1 on error. */
static int step(struct conn *c, const struct options *opt)
{
    int moved = 0, r;

    if (conn_wants_read(c)) {
        if ((r = conn_receive(c, opt)) < 0)
            return -1;
        moved |= r > 0;
    }
    if (conn_wants_write(c)) {
        if ((r = conn_flush(c)) < 0)
            return -1;
        moved |= r;
    }
    return moved;
}

/* One step for every client, closing the finished or broken ones; 1 on progress. */
static int serve_pass(struct conn_list *conns, const struct options *opt)
{
    int moved = 0;
    size_t i, kept = 0;

    for (i = 0; i < conns->n; i++) {
        struct conn *c = conns->v[i];
        int r = step(c, opt);
        if (r < 0 || conn_finished(c)) { /* reset, broken pipe, or done: close */
            conn_close(c);
            moved = 1;
        } else {
            moved |= r;
            conns->v[kept++] = c;
        }
    }
    conns->n = kept;
    return moved;
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
        int accepted = accept_all(listener, &conns, opt.echo);
        int moved = serve_pass(&conns, &opt);
        if (!accepted && !moved)
            sleep_ms(IDLE_SLEEP_MS);
    }
}
