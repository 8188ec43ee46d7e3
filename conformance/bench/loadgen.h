/* The load generator's plumbing (included by loadgen.c, built as one unit): options,
 * clock, sockets, the latency histogram, the request payload, and the server side of the
 * self-loop.  The modes and the connect phase they share are in loadgen.c.
 */
#ifndef LOADGEN_H
#define LOADGEN_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 200000
#define SUB_BITS 4
#define BUCKETS (64 << SUB_BITS)
#define SERVER_TAG (1ULL << 32)
#define LISTENER_TAG (1ULL << 33)

struct opts {
    const char *mode;
    struct in_addr host;
    int port, conns, size, self, batch;
    double warmup, duration, timeout, keep, connect;
};

struct conn {
    int fd, connected, confirmed;
    uint32_t interest;      /* the events registered with epoll */
    int sent, got;          /* bytes of the current request sent, of its echo received */
    uint64_t seq, started;  /* request number; when its first byte was sent (ns) */
    uint64_t latency;       /* of the last completed request (ns) */
    uint64_t done;          /* replies completed inside the window */
};

static uint64_t hist[BUCKETS];
static volatile sig_atomic_t stop_flag;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
           + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void die(const char *what)
{
    printf("{\"error\": \"%s: %s\"}\n", what, strerror(errno));
    exit(1);
}

static void usage(void)
{
    fprintf(stderr, "usage: loadgen pingpong|bulk|hold --port P [--host 127.0.0.1] "
            "[--conns N] [--size B] [--warmup S] [--duration S] [--timeout S] [--keep S] "
            "[--connect S] [--batch B] [--loop]\n");
    exit(2);
}

static void parse(int argc, char **argv, struct opts *o)
{
    const char *host = "127.0.0.1";
    if (argc < 2)
        usage();
    memset(o, 0, sizeof *o);
    o->mode = argv[1];
    o->conns = 1, o->size = strcmp(o->mode, "bulk") == 0 ? 65536 : 64;
    o->warmup = 0.5, o->duration = 2, o->timeout = 2, o->keep = 60, o->connect = 10, o->batch = 128;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--loop") == 0) { o->self = 1; continue; }
        if (v == NULL) usage();
        if (strcmp(a, "--host") == 0) host = v;
        else if (strcmp(a, "--port") == 0) o->port = atoi(v);
        else if (strcmp(a, "--conns") == 0) o->conns = atoi(v);
        else if (strcmp(a, "--size") == 0) o->size = atoi(v);
        else if (strcmp(a, "--warmup") == 0) o->warmup = atof(v);
        else if (strcmp(a, "--duration") == 0) o->duration = atof(v);
        else if (strcmp(a, "--timeout") == 0) o->timeout = atof(v);
        else if (strcmp(a, "--keep") == 0) o->keep = atof(v);
        else if (strcmp(a, "--connect") == 0) o->connect = atof(v);
        else if (strcmp(a, "--batch") == 0) o->batch = atoi(v);
        else usage();
        i++;
    }
    /* Loopback only: this program floods whatever it is pointed at. */
    if (inet_pton(AF_INET, host, &o->host) != 1 || (ntohl(o->host.s_addr) >> 24) != 127) {
        fprintf(stderr, "loadgen: --host must be an IPv4 loopback address (127.0.0.0/8)\n");
        exit(2);
    }
    if ((o->port <= 0 && !o->self) || o->port > 65535 || o->conns < 1 || o->conns > MAX_CONNS
        || o->size < 8 || o->size > (1 << 24) || o->duration <= 0 || o->duration > 3600
        || o->warmup < 0 || o->warmup > 600 || o->timeout <= 0 || o->keep < 0
        || o->connect <= 0 || o->connect > 3600 || o->batch < 1)
        usage();
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static struct sockaddr_in target(const struct opts *o)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr = o->host;
    sa.sin_port = htons((uint16_t)o->port);
    return sa;
}

/* A non-blocking socket with connect() started; -1 (errno set) when that failed. */
static int start_connect(const struct opts *o)
{
    struct sockaddr_in sa = target(o);
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static void record(uint64_t ns)
{
    int msb = 63 - __builtin_clzll(ns | 1);
    int sub = msb >= SUB_BITS ? (int)((ns >> (msb - SUB_BITS)) & ((1 << SUB_BITS) - 1)) : 0;
    hist[(msb << SUB_BITS) | sub]++;
}

/* The middle of the bucket holding the q-quantile, in microseconds. */
static double quantile_us(uint64_t total, double q)
{
    uint64_t rank = (uint64_t)(q * (double)total), seen = 0;
    for (int i = 0; i < BUCKETS; i++) {
        seen += hist[i];
        if (hist[i] && seen > rank) {
            int msb = i >> SUB_BITS, sub = i & ((1 << SUB_BITS) - 1);
            double lo = msb >= SUB_BITS ? (double)(1ULL << msb)
                        * (1.0 + (double)sub / (1 << SUB_BITS)) : (double)(1ULL << msb);
            double width = msb >= SUB_BITS ? (double)(1ULL << (msb - SUB_BITS)) : 1.0;
            return (lo + width / 2) / 1000.0;
        }
    }
    return 0;
}

static void fill(char *buf, int size, uint64_t seq)
{
    memset(buf, 'a' + (int)(seq % 26), (size_t)size);
    memcpy(buf, &seq, sizeof seq);
}

/* Send what is left of c's request; 0 on success or EAGAIN, -1 on error. */
static int send_request(struct conn *c, char *buf, int size)
{
    if (c->sent == 0)
        c->started = now_ns();
    fill(buf, size, c->seq);
    while (c->sent < size) {
        ssize_t n = send(c->fd, buf + c->sent, (size_t)(size - c->sent), MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
        c->sent += (int)n;
    }
    return 0;
}

/* Echo everything readable on a server-side socket of --loop mode (64-byte requests
 * always fit in the send buffer: one request is in flight per connection). */
static void self_echo(int fd, char *buf, int size)
{
    ssize_t n;
    while ((n = recv(fd, buf, (size_t)size, 0)) > 0)
        if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
            break;
    if (n == 0)
        close(fd);
}

static int self_listener(struct opts *o, int ep)
{
    struct sockaddr_in sa = target(o);
    socklen_t len = sizeof sa;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = LISTENER_TAG};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sa.sin_port = 0;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 4096) != 0
        || getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        die("self listener");
    o->port = ntohs(sa.sin_port);
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    return fd;
}

static void self_accept(int listener, int ep)
{
    int fd, one = 1;
    while ((fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = SERVER_TAG | (uint64_t)fd};
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
}

#endif
