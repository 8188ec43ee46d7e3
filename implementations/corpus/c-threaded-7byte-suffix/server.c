/* Thread per connection, reading 7 bytes at a time, and printing each chunk followed by
 * its size: "hello w (7 bytes)".
 *
 * Seven is an odd size on purpose: messages, payload alphabets and TCP segments never
 * line up with it, so every message is cut at arbitrary places, and TCP (a byte stream,
 * tcp(7)) guarantees nothing else.  The size suffix is a common debugging shape (the
 * seed's IOCP worker printed "resv- Bytes[%lu], Msg : %s"); printf's "%.*s" prints
 * exactly n bytes, stopping early only at a NUL byte.  The backlog is 5, a classic; a
 * burst larger than that is retried by the clients' TCP (listen(2)).  The thread gets its
 * descriptor in a malloc()ed cell, freed by the thread.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void *serve(void *arg)
{
    int fd = *(int *)arg;
    char buf[7];
    ssize_t n;

    free(arg);
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0 || (n < 0 && errno == EINTR)) {
        ssize_t off = 0;
        if (n < 0)
            continue;
        pthread_mutex_lock(&out_lock);
        printf("%.*s (%zd bytes)\n", (int)n, buf, n);
        fflush(stdout);
        pthread_mutex_unlock(&out_lock);
        while (off < n) {
            ssize_t w = send(fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
            if (w < 0 && errno != EINTR)
                goto out;
            if (w > 0)
                off += w;
        }
    }
out:
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr;
    int lfd, on = 1;

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
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 5) < 0) {
        perror("listen");
        return 1;
    }
    for (;;) {
        pthread_t tid;
        int *cell = malloc(sizeof *cell);
        if (cell == NULL || (*cell = accept(lfd, NULL, NULL)) < 0) {
            free(cell);
            continue;
        }
        if (pthread_create(&tid, NULL, serve, cell) != 0) {
            close(*cell);
            free(cell);
            continue;
        }
        pthread_detach(tid);
    }
}
