/* MUTANT poll_slot_dup (model "poll"): the seed's slot search that does not stop at the
 * first free slot.
 *
 * Mirrors the seed's poll server, pollLoop():
 *
 *     for (int i = 1; i < POLL_SIZE; i++) {
 *       if (socksPool[i].fd < 0) {
 *         socksPool[i].fd = connfd;
 *         if (i > ndfs) { ndfs = i; break; }   <- the break only past the highest slot
 *       }
 *     }
 *
 * A slot freed by a client that left is below ndfs: the next client fills it, the loop
 * goes on, and fills every other free slot up to one past ndfs too.  One descriptor, two
 * (or more) slots, so each of its events is handled twice.  While data flows that goes
 * unnoticed (the second recv() finds EAGAIN, the same connection state is behind both
 * slots); when the client leaves, the first slot closes it and forgets its state, and the
 * second slot, in the same pass, looks up the state of a descriptor that has none: a NULL
 * pointer, and the server dies with SIGSEGV.
 *
 * Otherwise the reference's poll server (../../c/poll.c) as a student structures it: a
 * table of slots (large, so that its size is not a second defect), the highest slot in
 * use (ndfs, never lowered, as in the seed), and per-connection state looked up by fd.
 *
 * Caught by DISCONNECT-4 (clients come and go in waves, so slots are freed below ndfs and
 * the next client lands in two of them; the server crashes when it leaves).
 */
#include <poll.h>
#include <stdio.h>

#include "common.h"

#define POLL_SIZE 16384 /* slots: slot 0 is the listener */
#define MAX_FD 65536    /* size of the fd -> connection table */

static struct pollfd slots[POLL_SIZE];
static struct conn *conns[MAX_FD]; /* by descriptor */
static int ndfs;                   /* highest slot ever used */

static void take_slots(sock_t fd, int echo)
{
    struct conn *c;
    int i;

    if (fd >= MAX_FD) {
        sock_close(fd); /* beyond the table: refuse it */
        return;
    }
    if ((c = conn_new(fd, echo)) == NULL)
        return; /* conn_new closed it */
    conns[fd] = c;
    for (i = 1; i < POLL_SIZE; i++) {
        if (slots[i].fd < 0) {
            slots[i].fd = fd;
            if (i > ndfs) {
                ndfs = i;
                break;
            }
            /* DEFECT: no break here: a hole below ndfs takes the fd, and so does the next */
        }
    }
    if (i == POLL_SIZE) { /* no slot left above ndfs */
        int taken = 0;
        for (i = 1; i <= ndfs; i++)
            taken |= slots[i].fd == fd;
        if (!taken) {
            conns[fd] = NULL;
            conn_close(c);
        }
    }
}

static void accept_all(sock_t listener, int echo)
{
    sock_t fd;

    while ((fd = accept_client(listener)) != BAD_SOCKET)
        take_slots(fd, echo);
}

/* Do what poll() said is possible: 1 when the connection is to be closed. */
static int serve(struct conn *c, short revents, const struct options *opt)
{
    if (revents & (POLLIN | POLLHUP | POLLERR) && conn_wants_read(c)
            && conn_receive(c, opt) < 0)
        return 1;
    if (revents & (POLLOUT | POLLHUP | POLLERR) && conn_wants_write(c) && conn_flush(c) < 0)
        return 1;
    return conn_finished(c);
}

int main(int argc, char **argv)
{
    struct options opt;
    sock_t listener;
    int i;

    parse_args(argc, argv, &opt);
    listener = listen_on(opt.port);
    if (set_nonblocking(listener) != 0)
        return 1;
    for (i = 1; i < POLL_SIZE; i++)
        slots[i].fd = -1;
    slots[0].fd = listener;
    slots[0].events = POLLIN;
    for (;;) {
        for (i = 1; i <= ndfs; i++) {
            struct conn *c = slots[i].fd < 0 ? NULL : conns[slots[i].fd];
            slots[i].events = c == NULL ? 0 : (short)((conn_wants_read(c) ? POLLIN : 0)
                                                      | (conn_wants_write(c) ? POLLOUT : 0));
        }
        if (poll(slots, (nfds_t)(ndfs + 1), -1) < 0) {
            if (sock_interrupted(sock_errno()))
                continue;
            perror("poll");
            return 1;
        }
        for (i = 1; i <= ndfs; i++) {
            sock_t fd = slots[i].fd;
            if (fd < 0 || slots[i].revents == 0)
                continue;
            if (serve(conns[fd], slots[i].revents, &opt)) { /* NULL after a twin slot closed it */
                conn_close(conns[fd]);
                conns[fd] = NULL;
                slots[i].fd = -1;
            }
        }
        if (slots[0].revents & POLLIN)
            accept_all(listener, opt.echo);
    }
}
