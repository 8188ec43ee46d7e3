/* The classic thread-per-connection echo server: the main thread accept()s, and each
 * connection gets a detached pthread that loops recv()/send() on its blocking socket.
 *
 * The descriptor is handed to the thread by value (cast through intptr_t), not as the
 * address of a variable the next accept() overwrites.  Threads are detached, so their
 * stacks are reclaimed when they end without anyone joining them.  Each thread prints
 * "recv: " + chunk + "\n" holding stdout's lock (flockfile(3)), so two threads' lines
 * never interleave.  send(2) may be short: the echo loops.  MSG_NOSIGNAL: a reset
 * client gives EPIPE, not a SIGPIPE that would end every thread's client at once.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFSIZE 4096

static void print_chunk(const char *buf, size_t n)
{
    flockfile(stdout);
    fputs("recv: ", stdout);
    fwrite(buf, 1, n, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    funlockfile(stdout);
}

static void *client_thread(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[BUFSIZE];
    ssize_t n;

    while ((n = recv(fd, buf, sizeof buf, 0)) != 0) {
        size_t off = 0;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        print_chunk(buf, (size_t)n);
        while (off < (size_t)n) {
            ssize_t w = send(fd, buf + off, (size_t)n - off, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                goto done;
            }
            off += (size_t)w;
        }
    }
done:
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr;
    int lfd, on = 1;
    pthread_attr_t attr;

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
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (;;) {
        pthread_t tid;
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        if (pthread_create(&tid, &attr, client_thread, (void *)(intptr_t)fd) != 0)
            close(fd); /* no thread to serve it: refuse the client, keep the others */
    }
}
