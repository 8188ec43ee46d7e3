/* A select() print server that is a network `cat`: every chunk recv() returns goes to
 * stdout with one write(2), exactly as received, with nothing added -- no line break,
 * no prefix.  Several clients' bytes therefore share stdout in the order their chunks
 * were read, each client's own bytes in its own order.
 *
 * select() is level-triggered: one recv() of 64 KiB per readable socket per call, and
 * what is left is reported again.  A blocking write() to a pipe writes everything unless
 * a signal interrupts it (pipe(7)); none is caught here, but the loop retries a short
 * write anyway.  Descriptors that do not fit in an fd_set (FD_SETSIZE, select(2) BUGS)
 * are closed at accept().  Clients are kept in a plain array, swapped out on close.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

static void out(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* stdout gone: keep serving */
        }
        p += w;
        n -= (size_t)w;
    }
}

int main(int argc, char **argv)
{
    static char buf[65536];
    int clients[FD_SETSIZE];
    int nclients = 0, lfd, on = 1;
    struct sockaddr_in addr;

    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
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
    fcntl(lfd, F_SETFL, O_NONBLOCK);
    for (;;) {
        fd_set rset;
        int i, maxfd = lfd;

        FD_ZERO(&rset);
        FD_SET(lfd, &rset);
        for (i = 0; i < nclients; i++) {
            FD_SET(clients[i], &rset);
            if (clients[i] > maxfd)
                maxfd = clients[i];
        }
        if (select(maxfd + 1, &rset, NULL, NULL, NULL) < 0) {
            if (errno == EINTR)
                continue;
            perror("select");
            return 1;
        }
        for (i = 0; i < nclients;) {
            if (FD_ISSET(clients[i], &rset)) {
                ssize_t n = recv(clients[i], buf, sizeof buf, 0);
                if (n > 0) {
                    out(buf, (size_t)n);
                } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                    close(clients[i]);
                    clients[i] = clients[--nclients];
                    continue; /* the swapped-in client was not in this round's set check */
                }
            }
            i++;
        }
        if (FD_ISSET(lfd, &rset)) {
            int fd;
            while ((fd = accept(lfd, NULL, NULL)) >= 0 || errno == EINTR || errno == ECONNABORTED) {
                if (fd < 0)
                    continue;
                if (fd >= FD_SETSIZE || nclients == FD_SETSIZE) {
                    close(fd); /* select() cannot watch it: refuse this client */
                    continue;
                }
                clients[nclients++] = fd;
            }
        }
    }
}
