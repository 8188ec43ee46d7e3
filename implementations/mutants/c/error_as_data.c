/* MUTANT error_as_data (model "blocking"): send()'s -1 taken for a byte count.
 *
 * The seed never looks at what a call returns; a student who learns that send() may take
 * fewer bytes than asked writes the loop below, but adds the result to the position
 * without asking whether it is a count at all.  When the client has reset the connection,
 * send() fails with -1 (EPIPE or ECONNRESET; SIGPIPE is ignored): `buf += -1; n -= -1`
 * moves the position back one byte and makes the remainder one byte longer, so the loop
 * never ends.  The server spins at 100 % CPU on a dead client and never accepts another.
 * Otherwise a copy of ../../c/blocking.c.
 *
 * Caught by ROBUST-2 (a client sends 1 MiB, reads nothing and resets: the server is
 * blocked in send() when the reset comes, and spins from then on) and DISCONNECT-2.
 */
#include "common.h"

static void send_all(sock_t fd, const char *buf, size_t n)
{
    while (n > 0) {
        long sent = (long)send(fd, buf, (int)n, 0);
        buf += sent;          /* DEFECT: sent == -1 is an error, not a count */
        n -= (size_t)sent;    /* ... and (size_t)-1 makes n one larger */
    }
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
        if (opt->echo)
            send_all(fd, opt->buf, (size_t)n);
    }
    sock_close(fd);
}

int main(int argc, char **argv)
{
    struct options opt;
    sock_t listener;

    parse_args(argc, argv, &opt);
    listener = listen_on(opt.port);
    for (;;) {
        sock_t fd = accept_client(listener);
        if (fd == BAD_SOCKET) {
            sleep_ms(100);
            continue;
        }
        serve_client(fd, &opt);
    }
}
