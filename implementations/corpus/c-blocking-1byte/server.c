/* A blocking echo server that reads one byte at a time: read(fd, &c, 1), then the byte
 * goes to stdout and back to the client, each with one write().
 *
 * The smallest buffer there is.  TCP is a byte stream (tcp(7)): it keeps no message
 * boundaries, so reading it one byte per call loses nothing and reorders nothing; it only
 * costs three system calls per byte.  stdout gets the bytes exactly as received, with no
 * line breaks of its own (the kind of server that is a network `cat`).  write(2) to a
 * socket or a pipe may be interrupted or short, so each write is retried until the byte
 * is out.  SIGPIPE is ignored: a reset client makes write() fail with EPIPE, not kill us.
 * Backlog SOMAXCONN; clients are served one at a time.
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int put(int fd, char c)
{
    for (;;) {
        ssize_t n = write(fd, &c, 1);
        if (n == 1)
            return 0;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr;
    int lfd, on = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(argv[1]));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0
        || listen(lfd, SOMAXCONN) < 0) {
        perror("listen");
        return 1;
    }
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        char c;
        ssize_t n;

        if (fd < 0)
            continue;
        while ((n = read(fd, &c, 1)) != 0) {
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                break; /* ECONNRESET */
            }
            put(STDOUT_FILENO, c); /* a closed stdout must not stop the echo */
            if (put(fd, c) < 0)
                break;
        }
        close(fd);
    }
}
