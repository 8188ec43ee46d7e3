/* A poll() echo server with a 1 MiB read buffer, a growable pollfd array, and the
 * prefix "[fd N] " on every printed chunk.
 *
 * The seed's poll server kept POLL_SIZE (20) slots and lost clients past them; here the
 * pollfd array and the parallel array of client states grow with realloc(), and a closed
 * client's slot is filled with the last one (order does not matter to poll()).  The big
 * buffer means one recv() takes whatever the socket holds -- up to 1 MiB -- and poll()
 * being level-triggered (poll(2)) covers the rest either way.
 *
 * Writes: the echo is tried at once; what send() leaves waits in the client's buffer and
 * POLLOUT is asked for until it is gone.  Above 256 KiB pending, POLLIN is dropped, so a
 * client that does not read its echo is slowed by TCP instead of filling our memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_SIZE (1024 * 1024)
#define HIGH_WATER (256 * 1024)

struct pending {
    char *data;
    size_t head, len, cap;
    int eof;
};

static struct pollfd *fds;      /* fds[0] is the listener */
static struct pending *state;   /* state[i] belongs to fds[i] */
static size_t nfds, capfds;

static void add(int fd)
{
    if (nfds == capfds) {
        size_t cap = capfds ? capfds * 2 : 64;
        struct pollfd *f = realloc(fds, cap * sizeof *f);
        struct pending *s = f ? realloc(state, cap * sizeof *s) : NULL;
        if (f)
            fds = f;
        if (s == NULL) {
            close(fd);
            return;
        }
        state = s;
        capfds = cap;
    }
    fds[nfds].fd = fd;
    fds[nfds].events = POLLIN;
    fds[nfds].revents = 0;
    memset(&state[nfds], 0, sizeof state[nfds]);
    nfds++;
}

static void remove_at(size_t i)
{
    close(fds[i].fd);
    free(state[i].data);
    nfds--;
    fds[i] = fds[nfds];
    state[i] = state[nfds];
}

static int append(struct pending *p, const char *buf, size_t n)
{
    if (p->head == p->len)
        p->head = p->len = 0;
    if (p->len + n > p->cap) {
        size_t cap = p->len + n;
        char *d;
        if (p->head > 0) { /* reuse the space already sent before growing */
            memmove(p->data, p->data + p->head, p->len - p->head);
            p->len -= p->head;
            p->head = 0;
        }
        if (p->len + n > p->cap) {
            d = realloc(p->data, cap);
            if (d == NULL)
                return -1;
            p->data = d;
            p->cap = cap;
        }
    }
    memcpy(p->data + p->len, buf, n);
    p->len += n;
    return 0;
}

/* Serve fds[i]; returns 0 to keep it, -1 to close it. */
static int serve(size_t i, char *buf)
{
    struct pending *p = &state[i];
    int fd = fds[i].fd;

    if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = recv(fd, buf, READ_SIZE, 0);
        if (n == 0) {
            p->eof = 1;
        } else if (n > 0) {
            printf("[fd %d] ", fd);
            fwrite(buf, 1, (size_t)n, stdout);
            putchar('\n');
            fflush(stdout);
            if (append(p, buf, (size_t)n) < 0)
                return -1;
        } else if (errno != EAGAIN && errno != EINTR) {
            return -1;
        }
    }
    while (p->len > p->head) {
        ssize_t n = send(fd, p->data + p->head, p->len - p->head, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            return -1;
        }
        p->head += (size_t)n;
    }
    if (p->eof && p->len == p->head)
        return -1; /* EOF seen and the echo is out: done */
    fds[i].events = 0;
    if (!p->eof && p->len - p->head <= HIGH_WATER)
        fds[i].events |= POLLIN;
    if (p->len > p->head)
        fds[i].events |= POLLOUT;
    return 0;
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr;
    int lfd, on = 1;
    char *buf = malloc(READ_SIZE);

    if (argc != 2 || buf == NULL) {
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
    add(lfd);
    for (;;) {
        size_t i, n;
        if (poll(fds, nfds, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror("poll");
            return 1;
        }
        n = nfds; /* clients accepted below wait for the next poll() */
        for (i = n; i-- > 1;) { /* backwards: remove_at() moves the last slot into i */
            if (fds[i].revents && serve(i, buf) < 0)
                remove_at(i);
        }
        if (fds[0].revents & POLLIN) {
            int cfd;
            while ((cfd = accept(lfd, NULL, NULL)) >= 0 || errno == ECONNABORTED
                   || errno == EINTR) {
                if (cfd < 0)
                    continue;
                fcntl(cfd, F_SETFL, O_NONBLOCK);
                add(cfd);
            }
        }
    }
}
