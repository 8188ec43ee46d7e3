/* MUTANT poll_fd_indexed (model "poll"): a pollfd array of 1024 entries indexed by
 * descriptor.
 *
 * The shortcut many poll() servers take: fds[fd] is the entry of descriptor fd, so that
 * there is no slot to search and no array to compact, and poll() gets fds[0 .. maxfd].
 * It works while every descriptor is below 1024.  But poll() has no FD_SETSIZE: accept()
 * returns the lowest free descriptor, so with stdin, stdout, stderr and the listener
 * open the 1,021st client gets descriptor 1024, and fds[1024] is past the end of the
 * array, on the stack.  What follows depends on the build: with _FORTIFY_SOURCE (the
 * default of Ubuntu's and Fedora's compilers, and set below so that every build agrees)
 * glibc's poll() sees nfds larger than the array and aborts the server ("buffer overflow
 * detected"); without it the writes corrupt whatever lies beyond the array.
 *
 * Otherwise the reference's poll server (../../c/poll.c) turned inside out: connection
 * state is looked up by descriptor in a table large enough (65,536) not to be a second
 * defect.
 *
 * Caught by CAPACITY-3 (past 1,024 descriptors every client is served or refused, and
 * the server keeps running).  CAPACITY-2 (5,000 connections, SHOULD) fails it too.
 */
#ifndef _FORTIFY_SOURCE
#define _FORTIFY_SOURCE 2
#endif
#include <poll.h>
#include <stdio.h>

#include "common.h"

#define MAX_FD 65536

static struct conn *conns[MAX_FD]; /* by descriptor */

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
    struct pollfd fds[1024]; /* DEFECT: indexed by descriptor, and descriptors pass 1023 */
    sock_t listener, fd;
    int i, maxfd;

    parse_args(argc, argv, &opt);
    listener = listen_on(opt.port);
    if (set_nonblocking(listener) != 0)
        return 1;
    for (i = 0; i < 1024; i++)
        fds[i].fd = -1;
    maxfd = listener;
    for (;;) {
        for (i = 0; i <= maxfd; i++) {
            struct conn *c = conns[i];
            fds[i].fd = i == listener || c != NULL ? i : -1;
            fds[i].events = i == listener ? POLLIN
                : c == NULL ? 0 : (short)((conn_wants_read(c) ? POLLIN : 0)
                                          | (conn_wants_write(c) ? POLLOUT : 0));
        }
        if (poll(fds, (nfds_t)(maxfd + 1), -1) < 0) {
            if (sock_interrupted(sock_errno()))
                continue;
            perror("poll");
            return 1;
        }
        for (i = 0; i <= maxfd; i++) {
            if (i == listener || conns[i] == NULL || fds[i].revents == 0)
                continue;
            if (serve(conns[i], fds[i].revents, &opt)) {
                conn_close(conns[i]);
                conns[i] = NULL;
            }
        }
        if (fds[listener].revents & POLLIN) {
            while ((fd = accept_client(listener)) != BAD_SOCKET) {
                if (fd >= MAX_FD) {
                    sock_close(fd);
                    continue;
                }
                if ((conns[fd] = conn_new(fd, opt.echo)) != NULL && fd > maxfd)
                    maxfd = fd;
            }
        }
    }
}
