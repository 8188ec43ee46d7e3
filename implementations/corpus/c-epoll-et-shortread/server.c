/* An edge-triggered epoll echo server that takes the epoll(7) man page at its word on
 * when the read space is exhausted:
 *
 *   "For stream-oriented files (e.g., pipe, FIFO, stream socket), the condition that the
 *    read/write I/O space is exhausted can also be detected by checking the amount of data
 *    read from / written to the target file descriptor.  For example, if you call read(2)
 *    by asking to read a certain amount of data and read(2) returns a lower number of
 *    bytes, you can be sure of having exhausted the read I/O space for the file
 *    descriptor.  The same is true when writing using write(2)."  (epoll(7), Q&A 9)
 *
 * So a client's turn reads 8 KiB buffers until one comes back short (or EAGAIN, or EOF),
 * and writes until the queue is empty or a send() comes back short (or EAGAIN).  It never
 * needs the extra recv() that fails with EAGAIN: bytes that arrive after the short read
 * raise a new EPOLLIN edge, and room that frees up after the short send a new EPOLLOUT
 * edge, because each registration is EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET.  The
 * listener is edge-triggered as well, and accept4() runs until EAGAIN: the man page makes
 * no such promise about accept().  The echo queue is not bounded.  Prints "<< " + chunk.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_SIZE 8192

struct conn {
    int fd, eof;
    char *q;
    size_t head, len, cap;
};

static int put(struct conn *c, const char *buf, size_t n)
{
    if (c->head == c->len)
        c->head = c->len = 0;
    if (c->len + n > c->cap) {
        size_t cap = 2 * (c->len + n);
        char *p = realloc(c->q, cap);
        if (p == NULL)
            return -1;
        c->q = p;
        c->cap = cap;
    }
    memcpy(c->q + c->len, buf, n);
    c->len += n;
    return 0;
}

/* -1 when the connection is over (done or broken). */
static int service(struct conn *c)
{
    char buf[READ_SIZE];

    while (!c->eof) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            return -1;
        }
        if (n == 0) {
            c->eof = 1;
            break;
        }
        fputs("<< ", stdout);
        fwrite(buf, 1, (size_t)n, stdout);
        fputc('\n', stdout);
        if (put(c, buf, (size_t)n) < 0)
            return -1;
        if ((size_t)n < sizeof buf)
            break; /* short read: the read space is exhausted (epoll(7)) */
    }
    fflush(stdout);
    while (c->head < c->len) {
        size_t want = c->len - c->head;
        ssize_t n = send(c->fd, c->q + c->head, want, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            return -1;
        }
        c->head += (size_t)n;
        if ((size_t)n < want)
            break; /* short write: the write space is exhausted (epoll(7)) */
    }
    return c->eof && c->head == c->len ? -1 : 0;
}

int main(int argc, char **argv)
{
    struct epoll_event ev, events[64];
    struct sockaddr_in addr;
    int lfd, ep, on = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(argv[1]));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0
        || listen(lfd, SOMAXCONN) < 0 || (ep = epoll_create1(0)) < 0) {
        perror("listen");
        return 1;
    }
    ev.events = EPOLLIN | EPOLLET;
    ev.data.ptr = NULL;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    for (;;) {
        int i, n = epoll_wait(ep, events, 64, -1);
        for (i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (c == NULL) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0 || errno == EINTR
                       || errno == ECONNABORTED) {
                    if (fd < 0)
                        continue;
                    c = calloc(1, sizeof *c);
                    if (c == NULL) {
                        close(fd);
                        continue;
                    }
                    c->fd = fd;
                    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
                    ev.data.ptr = c;
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
                        close(fd);
                        free(c);
                    }
                }
                continue;
            }
            if (service(c) < 0) {
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                free(c->q);
                free(c);
            }
        }
    }
}
