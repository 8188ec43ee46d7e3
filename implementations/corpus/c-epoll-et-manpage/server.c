/* The epoll(7) man page's "Example for suggested usage", completed into an echo server:
 * the listening socket registered with plain EPOLLIN (level-triggered) and one accept()
 * per report, each client registered with EPOLLIN | EPOLLET, and do_use_fd() reading
 * until EAGAIN.
 *
 * Mixing the two is what the man page does, and it is sound: the listener is
 * level-triggered, so a second queued connection is reported again by the next
 * epoll_wait() -- only an edge-triggered listener must accept() until EAGAIN.  The clients
 * are edge-triggered: after a report nothing is said again until new data arrives, so
 * do_use_fd() reads 4096 bytes at a time until recv() fails with EAGAIN ("waiting for an
 * event only after read(2) or write(2) return EAGAIN", epoll(7)).
 *
 * Output: each client is registered for EPOLLOUT | EPOLLET as well, from the start.  The
 * echo goes out with send() until it is all sent or EAGAIN; what is left waits in the
 * client's buffer, and the EPOLLOUT edge that comes when the socket drains resumes it.
 * The buffer is not bounded: draining to EAGAIN means reading whatever the client sends.
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

#define MAX_EVENTS 10

struct conn {
    int fd;
    char *out;
    size_t head, len, cap;
    int eof;
};

static int setnonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL, 0);
    return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static int flush_out(struct conn *c)
{
    while (c->head < c->len) {
        ssize_t n = send(c->fd, c->out + c->head, c->len - c->head, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        c->head += (size_t)n;
    }
    c->head = c->len = 0;
    return 0;
}

static int add_out(struct conn *c, const char *buf, size_t n)
{
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

/* Read until EAGAIN (or EOF), echo what can be sent: -1 when the connection is over. */
static int do_use_fd(struct conn *c)
{
    char buf[4096];

    while (!c->eof) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n > 0) {
            printf("recv: ");
            fwrite(buf, 1, (size_t)n, stdout);
            printf("\n");
            if (add_out(c, buf, (size_t)n) < 0)
                return -1;
        } else if (n == 0) {
            c->eof = 1;
        } else if (errno == EAGAIN) {
            break;
        } else if (errno != EINTR) {
            return -1;
        }
    }
    fflush(stdout);
    if (flush_out(c) < 0)
        return -1;
    return c->eof && c->len == 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    struct epoll_event ev, events[MAX_EVENTS];
    struct sockaddr_in local;
    int listen_sock, conn_sock, nfds, epollfd, n, on = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    listen_sock = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(listen_sock, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    memset(&local, 0, sizeof local);
    local.sin_family = AF_INET;
    local.sin_port = htons((unsigned short)atoi(argv[1]));
    local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (listen_sock < 0 || bind(listen_sock, (struct sockaddr *)&local, sizeof local) < 0
        || listen(listen_sock, SOMAXCONN) < 0 || setnonblocking(listen_sock) < 0) {
        perror("listen");
        exit(EXIT_FAILURE);
    }
    epollfd = epoll_create1(0);
    if (epollfd == -1) {
        perror("epoll_create1");
        exit(EXIT_FAILURE);
    }
    ev.events = EPOLLIN;
    ev.data.ptr = NULL;
    if (epoll_ctl(epollfd, EPOLL_CTL_ADD, listen_sock, &ev) == -1) {
        perror("epoll_ctl: listen_sock");
        exit(EXIT_FAILURE);
    }
    for (;;) {
        nfds = epoll_wait(epollfd, events, MAX_EVENTS, -1);
        if (nfds == -1) {
            if (errno == EINTR)
                continue;
            perror("epoll_wait");
            exit(EXIT_FAILURE);
        }
        for (n = 0; n < nfds; ++n) {
            struct conn *c = events[n].data.ptr;
            if (c == NULL) {
                conn_sock = accept(listen_sock, NULL, NULL);
                if (conn_sock == -1)
                    continue; /* EAGAIN, ECONNABORTED: the listener is reported again */
                c = calloc(1, sizeof *c);
                if (c == NULL || setnonblocking(conn_sock) < 0) {
                    close(conn_sock);
                    free(c);
                    continue;
                }
                c->fd = conn_sock;
                ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
                ev.data.ptr = c;
                if (epoll_ctl(epollfd, EPOLL_CTL_ADD, conn_sock, &ev) == -1) {
                    close(conn_sock);
                    free(c);
                }
            } else if (do_use_fd(c) < 0) {
                epoll_ctl(epollfd, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                free(c->out);
                free(c);
            }
        }
    }
}
