/* common.c: see common.h. */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(const char *prog)
{
    fprintf(stderr, "usage: %s PORT [--service echo|print] [--bufsize N]\n", prog);
    exit(2);
}

static long parse_number(const char *s, const char *prog)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0')
        usage(prog);
    return v;
}

void parse_args(int argc, char **argv, struct options *opt)
{
    int port = -1;
    long bufsize = 255;
    int i;

    opt->echo = 1;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--service") == 0 && i + 1 < argc) {
            const char *s = argv[++i];
            if (strcmp(s, "echo") != 0 && strcmp(s, "print") != 0)
                usage(argv[0]);
            opt->echo = strcmp(s, "echo") == 0;
        } else if (strcmp(argv[i], "--bufsize") == 0 && i + 1 < argc) {
            bufsize = parse_number(argv[++i], argv[0]);
        } else if (port < 0 && argv[i][0] != '-') {
            port = (int)parse_number(argv[i], argv[0]);
        } else {
            usage(argv[0]);
        }
    }
    if (port < 0 || port > 65535 || bufsize < 1)
        usage(argv[0]);
    opt->port = port;
    opt->bufsize = (size_t)bufsize;
    /* No +1 for a terminator: the seed's buffer[ret] = 0 wrote one past its end. */
    opt->buf = malloc(opt->bufsize);
    if (opt->buf == NULL) {
        perror("malloc");
        exit(1);
    }
    if (net_startup() != 0) {
        perror("net_startup");
        exit(1);
    }
    stdout_binary();
}

static void die(const char *what)
{
    sock_perror(what);
    exit(1);
}

sock_t listen_on(int port)
{
    struct sockaddr_in addr;
    sock_t s = socket(AF_INET, SOCK_STREAM, 0);

    if (s == BAD_SOCKET)
        die("socket");
    {
#ifdef _WIN32
        /* Not SO_REUSEADDR: on Windows it means something else, that another process may
         * bind our very port and take some of our clients.  SO_EXCLUSIVEADDRUSE forbids
         * that.  Its price: a restarted server may have to wait until the connections
         * its previous run accepted are gone (Microsoft: "Using SO_REUSEADDR and
         * SO_EXCLUSIVEADDRUSE"). */
        BOOL on = TRUE;
        if (setsockopt(s, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&on, sizeof on) != 0)
            die("setsockopt(SO_EXCLUSIVEADDRUSE)");
#else
        /* So that a restarted server does not fail with EADDRINUSE while its previous run's
         * connections sit in TIME_WAIT. */
        int on = 1;
        if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0)
            die("setsockopt(SO_REUSEADDR)");
#endif
    }
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&addr, sizeof addr) != 0)
        die("bind");
    /* The seed's listen(fd, 1) drops the SYNs of a connect burst: those clients wait 1 s+. */
    if (listen(s, SOMAXCONN) != 0)
        die("listen");
    return s;
}

void emit(const char *buf, size_t n)
{
    /* fwrite, never printf("%s"): a NUL byte in the data must not cut the line short.
     * Errors are ignored: a reader gone from our stdout must not stop the echo. */
    fwrite(buf, 1, n, stdout);
    fputc('\n', stdout);
    fflush(stdout);
}

sock_t accept_client(sock_t listener)
{
    for (;;) {
        sock_t s = accept(listener, NULL, NULL);
        if (s != BAD_SOCKET)
            return s;
        if (sock_interrupted(sock_errno()) || sock_aborted(sock_errno()))
            continue; /* the client gave up while queued; try the next one */
        return BAD_SOCKET;
    }
}

struct conn *conn_new(sock_t fd, int echo)
{
    struct conn *c;

    /* Explicitly: whether accept() hands back a non-blocking socket differs between OSes
     * (Linux: never inherited from the listener). */
    if (set_nonblocking(fd) != 0 || (c = calloc(1, sizeof *c)) == NULL) {
        sock_close(fd);
        return NULL;
    }
    c->fd = fd;
    c->echo = echo;
    return c;
}

void conn_close(struct conn *c)
{
    sock_close(c->fd);
    free(c->out);
    free(c);
}

int conn_wants_read(const struct conn *c)
{
    return !c->eof && c->len - c->head <= HIGH_WATER;
}

int conn_wants_write(const struct conn *c)
{
    return c->len > c->head;
}

int conn_finished(const struct conn *c)
{
    return c->eof && !conn_wants_write(c);
}

/* Append to the output queue.  It stays bounded: no turn reads a connection above
 * HIGH_WATER, and a turn reads bufsize bytes (READ_TURN in epoll_et.c) at most. */
static int queue_output(struct conn *c, const char *data, size_t n)
{
    if (c->head > 0) { /* slide the unsent rest to the front, reusing the space sent */
        memmove(c->out, c->out + c->head, c->len - c->head);
        c->len -= c->head;
        c->head = 0;
    }
    if (c->len + n > c->cap) {
        size_t cap = c->len + n > 2 * c->cap ? c->len + n : 2 * c->cap;
        char *out = realloc(c->out, cap);
        if (out == NULL)
            return -1;
        c->out = out;
        c->cap = cap;
    }
    memcpy(c->out + c->len, data, n);
    c->len += n;
    return 0;
}

int conn_receive(struct conn *c, const struct options *opt)
{
    long n = (long)recv(c->fd, opt->buf, (int)opt->bufsize, 0);

    if (n < 0) /* EINTR counts as "nothing now": the loop comes back to this socket */
        return sock_would_block(sock_errno()) || sock_interrupted(sock_errno()) ? 0 : -1;
    if (n == 0) {
        c->eof = 1; /* the only way a stream says "end"; what is owed is still sent */
        return 1;
    }
    emit(opt->buf, (size_t)n);
    if (c->echo && queue_output(c, opt->buf, (size_t)n) != 0)
        return -1;
    return (int)n;
}

int conn_flush(struct conn *c)
{
    long n = (long)send(c->fd, c->out + c->head, (int)(c->len - c->head), 0);

    if (n < 0)
        return sock_would_block(sock_errno()) || sock_interrupted(sock_errno()) ? 0 : -1;
    c->head += (size_t)n; /* a short send is normal: the rest stays queued, in order */
    if (c->head == c->len)
        c->head = c->len = 0;
    return n > 0;
}

int conn_drain_output(struct conn *c)
{
    while (conn_wants_write(c)) {
        int r = conn_flush(c);
        if (r <= 0)
            return r;
    }
    return 0;
}

void conn_list_push(struct conn_list *l, struct conn *c)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        struct conn **v = realloc(l->v, cap * sizeof *v);
        if (v == NULL) {
            perror("realloc");
            exit(1);
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = c;
}
