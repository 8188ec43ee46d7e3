/* Signal-driven I/O with queued real-time signals: F_SETSIG makes the kernel raise
 * SIGRTMIN instead of SIGIO, and a real-time signal is queued with a siginfo that names
 * the descriptor (si_fd) and the event (si_band).  The loop collects them with
 * sigwaitinfo() and serves only the socket each one names -- the Linux-specific shape
 * of signal-driven servers (fcntl(2), F_SETSIG).
 *
 * Each socket still needs F_SETOWN and O_ASYNC (not inherited by accept(): accept(2),
 * NOTES), and F_SETSIG is per descriptor too.  Real-time signals are blocked from the
 * start, so none is delivered to a handler and none is lost between two waits.  The RT
 * queue is bounded (RLIMIT_SIGPENDING); when it overflows, the kernel falls back to a
 * plain SIGIO (fcntl(2)), which names nothing: on SIGIO every socket is served, as a
 * plain SIGIO server always does.
 *
 * Served means drained: a signal is an edge.  The listener accepts until EAGAIN; a
 * client is read (32 KiB at a time) until EAGAIN or EOF and written until its queue is
 * empty or EAGAIN (a write-space signal comes when room frees up).  A new client is read
 * once unprompted, for data that came before its O_ASYNC.  Descriptors index a table of
 * clients.  A stale signal for a descriptor already closed (and maybe reused) does no
 * harm: serving a socket that has nothing to do costs one EAGAIN.  Prints "fd=N: " + chunk.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_SIZE 32768

struct client {
    int eof;
    char *q;
    size_t head, len, cap;
};

static struct client **table; /* by descriptor */
static int table_size, lfd;

static int arm(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETOWN, getpid()) < 0 || fcntl(fd, F_SETSIG, SIGRTMIN) < 0)
        return -1;
    return fcntl(fd, F_SETFL, flags | O_ASYNC | O_NONBLOCK);
}

static void drop(int fd)
{
    struct client *c = table[fd];
    close(fd);
    free(c->q);
    free(c);
    table[fd] = NULL;
}

static int queue(struct client *c, const char *buf, size_t n)
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

static void serve(int fd)
{
    static char buf[READ_SIZE];
    struct client *c = fd >= 0 && fd < table_size ? table[fd] : NULL;
    if (c == NULL)
        return; /* a signal for a socket already closed */
    while (!c->eof) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            printf("fd=%d: ", fd);
            fwrite(buf, 1, (size_t)n, stdout);
            putchar('\n');
            if (queue(c, buf, (size_t)n) < 0)
                goto gone;
        } else if (n == 0) {
            c->eof = 1;
        } else if (errno == EAGAIN) {
            break;
        } else if (errno != EINTR) {
            goto gone;
        }
    }
    fflush(stdout);
    while (c->head < c->len) {
        ssize_t n = send(fd, c->q + c->head, c->len - c->head, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN)
                break;
            if (errno != EINTR)
                goto gone;
            continue;
        }
        c->head += (size_t)n;
    }
    if (!(c->eof && c->head == c->len))
        return;
gone:
    fflush(stdout);
    drop(fd);
}

static void accept_all(void)
{
    int fd;
    while ((fd = accept(lfd, NULL, NULL)) >= 0 || errno == EINTR || errno == ECONNABORTED) {
        if (fd < 0)
            continue;
        if (fd >= table_size || (table[fd] = calloc(1, sizeof **table)) == NULL
            || arm(fd) < 0) {
            if (fd < table_size && table[fd]) {
                drop(fd);
                continue;
            }
            close(fd);
            continue;
        }
        serve(fd); /* data that came before O_ASYNC raised nothing */
    }
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr;
    struct rlimit rl;
    sigset_t set;
    int on = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN);
    sigaddset(&set, SIGIO);
    sigprocmask(SIG_BLOCK, &set, NULL);
    getrlimit(RLIMIT_NOFILE, &rl);
    table_size = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1 << 20 ? 1 << 20 : (int)rl.rlim_cur;
    table = calloc((size_t)table_size, sizeof *table);

    lfd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(argv[1]));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (table == NULL || lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0
        || listen(lfd, SOMAXCONN) < 0 || arm(lfd) < 0) {
        perror("listen");
        return 1;
    }
    accept_all(); /* a connection may have completed before O_ASYNC was set */
    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&set, &info);
        if (sig == SIGIO) { /* the RT queue overflowed: anything may have happened */
            int fd;
            accept_all();
            for (fd = 0; fd < table_size; fd++)
                if (table[fd])
                    serve(fd);
        } else if (sig == SIGRTMIN) {
            if (info.si_fd == lfd)
                accept_all();
            else
                serve(info.si_fd);
        }
    }
}
