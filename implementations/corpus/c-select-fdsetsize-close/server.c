/* A select() print server as a student writes it: every client's bytes are printed to
 * stdout as they arrive, one line per recv().
 *
 * Correct, and kept in the corpus because it once drew a false FAIL from CAPACITY-1:
 * select() cannot watch a descriptor numbered FD_SETSIZE (1024) or more, so a client
 * whose accept() returns such a descriptor is closed at once; and the listen backlog is
 * a modest 64, so a burst of connects overflows the accept queue and the kernel drops
 * SYNs and handshake ACKs, which the clients' TCP retransmits a second or more later.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CLIENTS FD_SETSIZE

static int clients[MAX_CLIENTS];
static int nclients;

static int listen_on(int port)
{
    struct sockaddr_in addr;
    int on = 1;
    int s = socket(AF_INET, SOCK_STREAM, 0);

    if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) {
        perror("socket");
        exit(1);
    }
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(s, 64) != 0) {
        perror("bind/listen");
        exit(1);
    }
    fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
    return s;
}

static void accept_one(int listener)
{
    int fd = accept(listener, NULL, NULL);

    if (fd < 0)
        return; /* EAGAIN, ECONNABORTED ...: nothing to do */
    if (fd >= FD_SETSIZE) {
        close(fd); /* select() cannot watch it: refuse the client */
        return;
    }
    clients[nclients++] = fd;
}

/* Print what arrived; 1 when the client is gone. */
static int serve(int fd)
{
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, 0);

    if (n < 0)
        return errno != EAGAIN && errno != EINTR;
    if (n == 0)
        return 1;
    fwrite(buf, 1, (size_t)n, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    int listener;

    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    listener = listen_on(atoi(argv[1]));
    for (;;) {
        fd_set rd;
        int i, kept = 0, maxfd = listener;

        FD_ZERO(&rd);
        FD_SET(listener, &rd);
        for (i = 0; i < nclients; i++) {
            FD_SET(clients[i], &rd);
            if (clients[i] > maxfd)
                maxfd = clients[i];
        }
        if (select(maxfd + 1, &rd, NULL, NULL, NULL) < 0) {
            if (errno == EINTR)
                continue;
            perror("select");
            return 1;
        }
        for (i = 0; i < nclients; i++) {
            if (FD_ISSET(clients[i], &rd) && serve(clients[i]))
                close(clients[i]);
            else
                clients[kept++] = clients[i];
        }
        nclients = kept;
        if (FD_ISSET(listener, &rd))
            accept_one(listener);
    }
}
