/* MUTANT print_truncates (model "blocking"): the print is the seed's printf("%s\n", buf).
 *
 * Every server of the seed prints what it received with `buffer[ret] = 0x00;
 * printf("%s\n", buffer)`.  Here the buffer has one byte more than a receive fills, so
 * the terminator lands inside it and nothing overflows, and the echo sends the n bytes
 * received: only the print is wrong.  printf("%s") stops at the first NUL byte, so a chunk
 * holding one reaches stdout cut short.  Otherwise a copy of ../../c/blocking.c.
 *
 * Caught by PRINT-3 (SHOULD, judged with --strict: received bytes, NUL included, must
 * reach stdout exactly).
 */
#include <stdio.h>
#include <stdlib.h>

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
        opt->buf[n] = '\0'; /* the buffer holds bufsize + 1 bytes (see main) */
        printf("%s\n", opt->buf); /* DEFECT: stops at the first NUL byte */
        fflush(stdout);
        if (opt->echo && send_all(fd, opt->buf, (size_t)n) != 0)
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
