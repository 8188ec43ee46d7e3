/* MUTANT recv_spin (model "blocking", Windows): recv()'s -1 is neither data nor the end.
 *
 * Mirrors the seed's blocking server, handleLoop(): `if (ret > 0) {...} if (ret == 0)
 * {closesocket; break;}` inside `while (TRUE)`.  A client that resets its connection makes
 * every later recv() fail at once with ECONNRESET: -1, which is neither > 0 nor == 0, so
 * the loop asks again, forever, at 100 % CPU, and the server never goes back to accept().
 * Otherwise a copy of ../../c/blocking.c.
 *
 * Windows only, like the seed: Winsock reports WSAECONNRESET on every recv() after a
 * reset.  Linux reports ECONNRESET once and 0 (EOF) from then on, so there the loop ends
 * one turn later and the defect does no harm.
 *
 * Caught by DISCONNECT-2 (a client resets mid-transfer: the server stalls and keeps its
 * socket) and ROBUST-2/ROBUST-3 (after the resets nobody new is served).
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
        if (n > 0) {
            emit(opt->buf, (size_t)n);
            if (opt->echo && send_all(fd, opt->buf, (size_t)n) != 0)
                break;
        }
        if (n == 0)
            break; /* DEFECT: n == -1 (a reset) loops back to recv(), which fails again */
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
