/* An edge-triggered epoll echo server that bounds each client's turn and re-arms it:
 * clients are registered EPOLLIN | EPOLLET | EPOLLONESHOT, a turn reads at most
 * TURN_READS buffers of 64 KiB, and every turn ends with EPOLL_CTL_MOD, which re-arms the
 * descriptor (epoll(7), EPOLLONESHOT: "it is the caller's responsibility to rearm the
 * file descriptor using epoll_ctl() with EPOLL_CTL_MOD").
 *
 * Why this is not the ET trap: stopping before EAGAIN loses a wake-up only if nothing
 * announces the data left behind.  EPOLL_CTL_MOD checks the descriptor's readiness as it
 * re-arms it, so a socket that still holds data is reported by the very next
 * epoll_wait(), after the other ready clients had their turn.  That is the fairness a
 * drain-to-EAGAIN loop lacks.  The same re-arm carries EPOLLOUT while echo is pending,
 * and leaves EPOLLIN out while more than 256 KiB wait, so a client that does not read is
 * slowed by TCP rather than by our memory.
 *
 * The listener is edge-triggered too (EPOLLET, no ONESHOT), so accept() runs until
 * EAGAIN.  Pending echo is a queue of received chunks, written with one writev() per
 * attempt; each chunk goes to stdout with one writev() as well, chunk then "\n".
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define READ_SIZE 65536
#define TURN_READS 4
#define HIGH_WATER (256 * 1024)
#define MAX_IOV 64

struct chunk {
    struct chunk *next;
    size_t off, len;
    char data[];
};

struct client {
    int fd, eof;
    struct chunk *head, *tail;
    size_t pending;
};

static int ep;

static void print_chunk(const char *data, size_t n)
{
    struct iovec iov[2] = { { (void *)data, n }, { "\n", 1 } };
    ssize_t w;
    /* Only a signal could cut a blocking writev() to a pipe short; none is caught here. */
    do
        w = writev(STDOUT_FILENO, iov, 2);
    while (w < 0 && errno == EINTR);
}

static int enqueue(struct client *c, const char *buf, size_t n)
{
    struct chunk *k = malloc(sizeof *k + n);
    if (k == NULL)
        return -1;
    k->next = NULL;
    k->off = 0;
    k->len = n;
    memcpy(k->data, buf, n);
    if (c->tail)
        c->tail->next = k;
    else
        c->head = k;
    c->tail = k;
    c->pending += n;
    return 0;
}

/* writev() queued chunks until the queue is empty or the socket is full. */
static int flush(struct client *c)
{
    while (c->head) {
        struct iovec iov[MAX_IOV];
        struct chunk *k;
        int n = 0;
        ssize_t w;
        for (k = c->head; k && n < MAX_IOV; k = k->next, n++) {
            iov[n].iov_base = k->data + k->off;
            iov[n].iov_len = k->len - k->off;
        }
        w = writev(c->fd, iov, n);
        if (w < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        c->pending -= (size_t)w;
        while (w > 0) {
            k = c->head;
            if ((size_t)w < k->len - k->off) {
                k->off += (size_t)w;
                break;
            }
            w -= (ssize_t)(k->len - k->off);
            c->head = k->next;
            free(k);
        }
        if (c->head == NULL)
            c->tail = NULL;
    }
    return 0;
}

static void drop(struct client *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    while (c->head) {
        struct chunk *k = c->head;
        c->head = k->next;
        free(k);
    }
    free(c);
}

/* One bounded turn, then the re-arm: -1 when the client is finished or broken. */
static int turn(struct client *c, char *buf)
{
    struct epoll_event ev;
    int reads = 0;

    while (!c->eof && c->pending <= HIGH_WATER && reads < TURN_READS) {
        ssize_t n = recv(c->fd, buf, READ_SIZE, 0);
        if (n > 0) {
            reads++;
            print_chunk(buf, (size_t)n);
            if (enqueue(c, buf, (size_t)n) < 0)
                return -1;
        } else if (n == 0) {
            c->eof = 1;
        } else if (errno == EAGAIN) {
            break;
        } else if (errno != EINTR) {
            return -1;
        }
    }
    if (flush(c) < 0)
        return -1;
    if (c->eof && c->head == NULL)
        return -1;
    ev.events = EPOLLET | EPOLLONESHOT;
    if (!c->eof && c->pending <= HIGH_WATER)
        ev.events |= EPOLLIN | EPOLLRDHUP;
    if (c->head)
        ev.events |= EPOLLOUT;
    ev.data.ptr = c;
    return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

int main(int argc, char **argv)
{
    struct epoll_event ev, events[128];
    struct sockaddr_in addr;
    int lfd, on = 1;
    char *buf = malloc(READ_SIZE);

    if (argc != 2 || buf == NULL) {
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
        int i, n = epoll_wait(ep, events, 128, -1);
        for (i = 0; i < n; i++) {
            struct client *c = events[i].data.ptr;
            if (c != NULL) {
                if (turn(c, buf) < 0)
                    drop(c);
                continue;
            }
            for (;;) { /* edge-triggered listener: accept until EAGAIN */
                int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
                if (fd < 0) {
                    if (errno == EINTR || errno == ECONNABORTED)
                        continue;
                    break;
                }
                c = calloc(1, sizeof *c);
                if (c == NULL) {
                    close(fd);
                    continue;
                }
                c->fd = fd;
                ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET | EPOLLONESHOT;
                ev.data.ptr = c;
                if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
                    close(fd);
                    free(c);
                }
            }
        }
    }
}
