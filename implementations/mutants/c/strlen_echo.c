/* MUTANT strlen_echo (model "blocking"): the echo is sent as a C string.
 *
 * The seed treats every received buffer as a string (`buffer[ret] = 0x00; printf("%s\n",
 * buffer)`).  A student turning its servers into echo servers keeps that habit and sends
 * back `strlen(buf)` bytes.  The buffer has one byte more than a receive fills, so nothing
 * overflows, and the print is binary-safe; but the echo of a chunk stops at its first NUL
 * byte, and everything after it is lost.  Otherwise a copy of ../../c/blocking.c.
 *
 * Caught by ECHO-2 (all 256 byte values, NUL included, must come back).
 */
#include <stdlib.h>
#include <string.h>

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
        /* The buffer holds bufsize + 1 bytes (see main): room for the terminator. */
        long n = (long)recv(fd, opt->buf, (int)opt->bufsize, 0);
        if (n < 0 && sock_interrupted(sock_errno()))
            continue;
        if (n <= 0)
            break;
        opt->buf[n] = '\0';
        emit(opt->buf, (size_t)n);
        if (opt->echo && send_all(fd, opt->buf, strlen(opt->buf)) != 0) /* DEFECT: stops at NUL */
            break;
    }
    sock_close(fd);
}

int main(int argc, char **argv)
{
    struct options opt;
    sock_t listener;

    parse_args(argc, argv, &opt);
    opt.buf = realloc(opt.buf, opt.bufsize + 1); /* room for the terminator */
    if (opt.buf == NULL)
        return 1;
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
