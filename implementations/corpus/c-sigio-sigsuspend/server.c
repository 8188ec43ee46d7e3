/* Signal-driven I/O in the textbook's shape: a SIGIO handler that only sets a flag, and a
 * main loop that sleeps in sigsuspend() until the flag is up, then does all the I/O.
 *
 * Every socket, the listener included, gets F_SETOWN (which process to signal) and
 * O_ASYNC (signal it); accept()ed sockets inherit neither (accept(2), NOTES), so each new
 * client gets both.  SIGIO is a standard signal: while one is pending, more are dropped
 * (signal(7)), and it does not say which socket woke it.  So each wake-up visits every
 * socket: accept() until EAGAIN, then each client recv() (64 KiB) until EAGAIN or EOF and
 * send() until its buffer is empty or EAGAIN.
 *
 * The race that sigsuspend() closes: SIGIO is blocked while the loop checks the flag,
 * and sigsuspend() unblocks it and sleeps in one atomic step (sigsuspend(2)), so a SIGIO
 * that comes after the check and before the sleep still wakes us.  The flag is cleared
 * before the pass, so a SIGIO raised during the pass brings another pass.  Data that came
 * before a socket's O_ASYNC was set raised nothing: the pass after an accept() reads the
 * new socket unprompted.  Prints "recv(fd N): " + chunk.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_SIZE 65536

struct client {
    int fd, eof;
    char *out;
    size_t head, len, cap;
    struct client *next;
};

static volatile sig_atomic_t io_ready;

static void on_sigio(int sig)
{
    (void)sig;
    io_ready = 1;
}

static int own(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETOWN, getpid()) < 0)
        return -1;
    return fcntl(fd, F_SETFL, flags | O_ASYNC | O_NONBLOCK);
}

static int push(struct client *c, const char *buf, size_t n)
{
    if (c->head == c->len)
        c->head = c->len = 0;
    if (c->len + n > c->cap) {
        size_t cap = 2 * (c->len + n);
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

/* Read until EAGAIN or EOF, send until EAGAIN: -1 when the client is over. */
static int pass(struct client *c, char *buf)
{
    while (!c->eof) {
        ssize_t n = recv(c->fd, buf, READ_SIZE, 0);
        if (n > 0) {
            printf("recv(fd %d): ", c->fd);
            fwrite(buf, 1, (size_t)n, stdout);
            putchar('\n');
            fflush(stdout);
            if (push(c, buf, (size_t)n) < 0)
                return -1;
        } else if (n == 0) {
            c->eof = 1;
        } else if (errno == EAGAIN) {
            break;
        } else if (errno != EINTR) {
            return -1;
        }
    }
    while (c->head < c->len) {
        ssize_t n = send(c->fd, c->out + c->head, c->len - c->head, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            return -1;
        }
        c->head += (size_t)n;
    }
    return c->eof && c->head == c->len ? -1 : 0;
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr;
    struct sigaction sa;
    sigset_t block, old;
    struct client *clients = NULL;
    int lfd, on = 1;
    char *buf = malloc(READ_SIZE);

    if (argc != 2 || buf == NULL) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigio;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGIO, &sa, NULL); /* before any O_ASYNC: SIGIO's default action kills */
    sigemptyset(&block);
    sigaddset(&block, SIGIO);
    sigprocmask(SIG_BLOCK, &block, &old);

    lfd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(argv[1]));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0
        || listen(lfd, SOMAXCONN) < 0 || own(lfd) < 0) {
        perror("listen");
        return 1;
    }
    io_ready = 1; /* a connection may have completed before O_ASYNC was set */
    for (;;) {
        struct client **pp;
        int fd;

        while (!io_ready)
            sigsuspend(&old);
        io_ready = 0;

        while ((fd = accept(lfd, NULL, NULL)) >= 0 || errno == EINTR || errno == ECONNABORTED) {
            struct client *c;
            if (fd < 0)
                continue;
            c = calloc(1, sizeof *c);
            if (c == NULL || own(fd) < 0) {
                close(fd);
                free(c);
                continue;
            }
            c->fd = fd;
            c->next = clients;
            clients = c;
        }
        for (pp = &clients; *pp;) {
            struct client *c = *pp;
            if (pass(c, buf) < 0) {
                *pp = c->next;
                close(c->fd);
                free(c->out);
                free(c);
            } else {
                pp = &c->next;
            }
        }
    }
}
