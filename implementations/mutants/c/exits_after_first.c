/* MUTANT exits_after_first (model "blocking"): the accept loop is not a loop.
 *
 * The seed's main() closes the listening socket and returns after its loop; a student who
 * writes the accept, the service and the cleanup in one straight line, without the
 * `while (TRUE)` around the accept, gets a server that serves its first client perfectly
 * and then exits.  Otherwise a copy of ../../c/blocking.c.
 *
 * Caught by ACCEPT-3 (clients waiting in the backlog are never served: the process is
 * gone when the first one leaves).
 */
#include "common.h"

static int send_all(sock_t fd, const char *buf, size_t n)
{
    while (n > 0) {
        long sent = (long)send(fd, buf, (int)n, 0);
        if (sent < 0) {
            if (sock_interrupted(sock_errno()))
                continue;
            return -1;
        }
        buf += sent;
        n -= (size_t)sent;
    }
    return 0;
}

static void serve_client(sock_t fd, const struct options *opt)
{
    for (;;) {
        long n = (long)recv(fd, opt->buf, (int)opt->bufsize, 0);
        if (n < 0 && sock_interrupted(sock_errno()))
            continue;
        if (n <= 0)
            break;
        emit(opt->buf, (size_t)n);
        if (opt->echo && send_all(fd, opt->buf, (size_t)n) != 0)
            break;
    }
    sock_close(fd);
}

int main(int argc, char **argv)
{
    struct options opt;
    sock_t listener, fd;

    parse_args(argc, argv, &opt);
    listener = listen_on(opt.port);
    while ((fd = accept_client(listener)) == BAD_SOCKET)
        sleep_ms(100);
    serve_client(fd, &opt); /* DEFECT: one client, then the end of main() */
    sock_close(listener);
    net_cleanup();
    return 0;
}
