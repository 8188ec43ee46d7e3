/* The seed's MultIO.epoll.TcpServer, made correct: epoll in its default, level-triggered
 * mode for the listener and the clients, recv() of BUFF_SIZE (255) bytes per wake-up,
 * "new accept" and "client close socket ..." log lines, and each chunk printed with
 * printf("%s\n") -- here fwrite(), so a NUL byte does not cut it short.
 *
 * Level-triggered (epoll(7)): epoll_wait() reports a socket for as long as it is
 * readable, so one accept() and one recv() per report lose nothing.  What the seed missed:
 * recv() returning -1 (a reset; it printed garbage and kept the dead fd), removing the fd
 * from epoll only after close() (EPOLL_CTL_DEL then fails with EBADF), buffer[ret] one
 * past the end, and the echo: send() may be short or fail with EAGAIN, so the rest waits
 * in the client's buffer with EPOLLOUT added (EPOLL_CTL_MOD), and EPOLLIN is dropped
 * while more than 64 KiB wait.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFF_SIZE 255
#define EPOLL_SIZE 64
#define HIGH_WATER (64 * 1024)

typedef struct client {
    int fd;
    int eof;
    unsigned events; /* what is registered now */
    char *out;
    size_t head, len, cap;
} Client;

static int epollFd;

static void closeClient(Client *c)
{
    epoll_ctl(epollFd, EPOLL_CTL_DEL, c->fd, NULL); /* before close(): see above */
    close(c->fd);
    free(c->out);
    free(c);
    printf("client close socket ...\n");
    fflush(stdout);
}

static int keep(Client *c, const char *buf, size_t n)
{
    if (c->head == c->len)
        c->head = c->len = 0;
    if (c->len + n > c->cap) {
        size_t cap = (c->len + n) * 2;
        char *p = realloc(c->out, cap);
        if (p == NULL)
            return -1;
        c->out = p;
        c->cap = cap;
    }
    memcpy(c->out + c->len, buf, n);
    c->len += n;
    return 0;
}

/* Returns -1 when the client is done or broken. */
static int handle(Client *c, unsigned events)
{
    char buffer[BUFF_SIZE];
    unsigned want;

    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        ssize_t ret = recv(c->fd, buffer, BUFF_SIZE, 0);
        if (ret == 0) {
            c->eof = 1;
        } else if (ret > 0) {
            fwrite(buffer, 1, (size_t)ret, stdout);
            fputc('\n', stdout);
            fflush(stdout);
            if (keep(c, buffer, (size_t)ret) < 0)
                return -1;
        } else if (errno != EAGAIN && errno != EINTR) {
            return -1;
        }
    }
    while (c->len > c->head) {
        ssize_t n = send(c->fd, c->out + c->head, c->len - c->head, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            return -1;
        }
        c->head += (size_t)n;
    }
    if (c->eof && c->head == c->len)
        return -1;
    want = 0;
    if (!c->eof && c->len - c->head <= HIGH_WATER)
        want |= EPOLLIN;
    if (c->len > c->head)
        want |= EPOLLOUT;
    if (want != c->events) {
        struct epoll_event ev;
        ev.events = want;
        ev.data.ptr = c;
        if (epoll_ctl(epollFd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
            return -1;
        c->events = want;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct epoll_event events[EPOLL_SIZE], event;
    struct sockaddr_in addr;
    int listenSock, on = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    listenSock = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    setsockopt(listenSock, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(argv[1]));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (listenSock < 0 || bind(listenSock, (struct sockaddr *)&addr, sizeof addr) < 0
        || listen(listenSock, 64) < 0) {
        perror("listen");
        return 1;
    }
    fcntl(listenSock, F_SETFL, O_NONBLOCK);
    epollFd = epoll_create(EPOLL_SIZE);
    event.events = EPOLLIN;
    event.data.ptr = NULL; /* NULL: the listener */
    epoll_ctl(epollFd, EPOLL_CTL_ADD, listenSock, &event);

    for (;;) {
        int i, nfds = epoll_wait(epollFd, events, EPOLL_SIZE, -1);
        for (i = 0; i < nfds; i++) {
            Client *c = events[i].data.ptr;
            if (c == NULL) {
                int connSock = accept(listenSock, NULL, NULL);
                if (connSock < 0)
                    continue; /* EAGAIN (another wake-up took it), ECONNABORTED */
                c = calloc(1, sizeof *c);
                if (c == NULL) {
                    close(connSock);
                    continue;
                }
                printf("new accept\n");
                fflush(stdout);
                fcntl(connSock, F_SETFL, O_NONBLOCK);
                c->fd = connSock;
                c->events = EPOLLIN;
                event.events = EPOLLIN;
                event.data.ptr = c;
                if (epoll_ctl(epollFd, EPOLL_CTL_ADD, connSock, &event) < 0) {
                    close(connSock);
                    free(c);
                }
                continue;
            }
            if (handle(c, events[i].events) < 0)
                closeClient(c);
        }
    }
}
