/* ioconform's load generator: one process, one thread, epoll, non-blocking sockets.
 *
 * Built on demand by conformance/bench/generator.py with the system compiler (cc -O2) and
 * cached by the hash of this file.  Every mode talks to 127.0.0.0/8 only, every loop is
 * bounded in time, and the result is one JSON object on stdout.
 *
 * pingpong and hold begin alike: connections are opened in batches of BATCH (default 128),
 * and each is confirmed by the echo of one request; the next batch starts when the one in
 * flight is settled (every connection confirmed or failed).  Opening a thousand at once
 * overflows queues on the way (the SYNs dropped are sent again 1 s, 3 s, 7 s later), and
 * the measurement would then include connections that were not yet there.  Opening them
 * one at a time, each with a round trip, costs a server that scans all its connections per
 * wake-up (poll, select, SIGIO) a scan per connection: O(n^2), too slow to ever fill it.
 *
 *   loadgen pingpong --port P --conns N [--size 64] [--warmup S] [--duration S] [--loop]
 *                    [--timeout S] [--connect S] [--batch B]
 *       Connects the N connections, each confirmed by its first request's echo (a batch
 *       whose echoes do not all come within TIMEOUT is let go: the following batches wait
 *       for the handshake only, so that a server serving one client at a time is measured
 *       as it is), all within CONNECT seconds.  Then every connection keeps one request of
 *       SIZE bytes in flight: send, wait for the whole echo, check it, send the next.
 *       Replies completed inside the measured window, which opens WARMUP seconds later, are
 *       counted and their latencies go into a log-linear histogram (16 buckets per power of
 *       two: 4% resolution).  A line {"event": "window"} marks the window's start so that
 *       the harness can sample the server's CPU time there.  "unconfirmed": connections
 *       without their first echo when the warm-up began (never connected included);
 *       "starved": confirmed ones that got no reply inside the window.
 *       --loop: the generator also plays the server (a listener in the same epoll set,
 *       echoing what it reads), which gives the cost of a loopback round trip with no
 *       other program involved.
 *   loadgen bulk --port P [--size 65536] [--warmup S] [--duration S]
 *       One connection: SIZE-byte writes as fast as the socket takes them, the echo read
 *       concurrently; reports the echoed bytes per second inside the window.
 *   loadgen hold --port P --conns N [--timeout S] [--duration S] [--keep S] [--batch B]
 *       Opens connections in batches, each confirmed by an 8-byte echo within TIMEOUT,
 *       until N are held, one fails (refused, closed, reset, no echo, or our own socket()
 *       failing) or DURATION is spent; the batch in flight is let settle first, so the
 *       whole takes at most DURATION + TIMEOUT.  Prints the result (held, why it stopped,
 *       seconds), then keeps them open until stdin closes, a signal comes, or KEEP seconds
 *       pass, so that the caller can read the server's memory meanwhile.
 *
 * Each timed result carries "cpu_s", the generator's own user+system time inside the
 * window: requests / cpu_s is the rate the generator could drive with a whole core to itself.
 */
#include "loadgen.h"

/* What pingpong and hold share: the connections, the epoll set, the self-loop server. */
struct run {
    struct opts *o;
    struct conn *conns;
    int ep, listener, size;  /* size: of each request (pingpong), of the confirming echo */
    char *buf, *rbuf;
    uint64_t errors;         /* connections broken after they were confirmed */
};

/* Set up a run of N connections; the self-loop listener too with --loop. */
static void run_init(struct run *r, struct opts *o, int size)
{
    memset(r, 0, sizeof *r);
    r->o = o, r->size = size, r->listener = -1;
    r->ep = epoll_create1(EPOLL_CLOEXEC);
    r->conns = calloc((size_t)o->conns, sizeof *r->conns);
    r->buf = malloc((size_t)size), r->rbuf = malloc((size_t)size);
    if (r->ep < 0 || !r->conns || !r->buf || !r->rbuf)
        die("setup");
    for (int i = 0; i < o->conns; i++)
        r->conns[i].fd = -1;
    if (o->self)
        r->listener = self_listener(o, r->ep);
}

static void drop(struct run *r, struct conn *c)
{
    epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
}

/* EPOLLOUT only while connecting or after a short send. */
static void update_interest(struct run *r, struct conn *c, uint64_t tag)
{
    uint32_t want = EPOLLIN | (!c->connected || c->sent < r->size ? EPOLLOUT : 0);
    if (c->fd >= 0 && want != c->interest) {
        struct epoll_event ev = {.events = want, .data.u64 = tag};
        epoll_ctl(r->ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->interest = want;
    }
}

/* Start connection i; NULL, or why it failed. */
static const char *launch(struct run *r, int i)
{
    static char why[160];
    struct conn *c = &r->conns[i];
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u64 = (uint64_t)i};
    if ((c->fd = start_connect(r->o)) < 0) {
        snprintf(why, sizeof why, "socket/connect: %s", strerror(errno));
        return why;
    }
    c->interest = ev.events;
    c->seq = (uint64_t)i;  /* each connection its own payload: a crossed echo shows */
    epoll_ctl(r->ep, EPOLL_CTL_ADD, c->fd, &ev);
    return NULL;
}

/* Receive what has come of c's echo, checked against what was sent.  1: complete,
 * 0: not yet, -1: failed (why). */
static int receive_echo(struct run *r, struct conn *c, const char **why)
{
    static char text[160];
    for (;;) {
        ssize_t n = recv(c->fd, r->rbuf, (size_t)(r->size - c->got), 0);
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n <= 0) {
            snprintf(text, sizeof text, "%s before the echo",
                     n == 0 ? "the server closed the connection" : strerror(errno));
            *why = text;
            return -1;
        }
        /* Compared as it comes: a partial echo needs no buffer of its own. */
        fill(r->buf, r->size, c->seq);
        if (memcmp(r->buf + c->got, r->rbuf, (size_t)n) != 0) {
            *why = "the echo differs from what was sent";
            return -1;
        }
        if ((c->got += (int)n) == r->size)
            return 1;
    }
}

/* One readiness event on a client connection: 1 when an echo completed (the next
 * request is sent unless HOLD_STILL), 0 otherwise, -1 when it failed (why). */
#define HOLD_STILL 1
static int conn_event(struct run *r, struct conn *c, uint32_t events, int flags,
                      const char **why)
{
    static char text[160];
    int done = 0;
    if (!c->connected) {
        int err = 0;
        socklen_t len = sizeof err;
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return 0;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            snprintf(text, sizeof text, "connect: %s", strerror(err));
            *why = text;
            return -1;
        }
        c->connected = 1;
    } else if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        if ((done = receive_echo(r, c, why)) < 0)
            return -1;
        if (done) {
            c->latency = now_ns() - c->started;
            c->got = c->sent = 0;
            c->seq++;
            if (flags & HOLD_STILL)
                return 1;
        }
    }
    if ((c->sent < r->size) && send_request(c, r->buf, r->size) < 0) {
        snprintf(text, sizeof text, "send: %s", strerror(errno));
        *why = text;
        return -1;
    }
    return done;
}

/* Events of the self-loop's server side; 1 when the tag was one of them. */
static int self_event(struct run *r, uint64_t tag)
{
    if (tag == LISTENER_TAG)
        self_accept(r->listener, r->ep);
    else if (tag & SERVER_TAG)
        self_echo((int)(tag & 0xffffffffULL), r->rbuf, r->size);
    else
        return 0;
    return 1;
}

/* The connect phase, in batches (see the top of this file).  strict (hold): the first
 * failure stops it, once the batch in flight has settled; an echo late by TIMEOUT is a
 * failure.  Otherwise (pingpong) failed connections are counted, and a batch whose echoes
 * are late is let go: from then on a batch is settled once its handshakes are done.  It
 * ends when every connection is settled, or at the first batch boundary past DEADLINE. */
struct phase {
    int launched, confirmed, failed, gate;  /* gate: batches wait for echoes */
    char why[160];                          /* the first failure */
};

static void fail(struct run *r, struct conn *c, struct phase *ph, const char *why)
{
    if (!ph->why[0])
        snprintf(ph->why, sizeof ph->why, "%s", why);
    ph->failed++;
    drop(r, c);
}

static int batch_settled(struct run *r, int first, struct phase *ph)
{
    for (int i = first; i < ph->launched; i++) {
        struct conn *c = &r->conns[i];
        if (c->fd >= 0 && !c->confirmed && (ph->gate || !c->connected))
            return 0;
    }
    return 1;
}

/* The batch in flight is TIMEOUT old: strict, its laggards fail; else it is let go. */
static void batch_expired(struct run *r, int first, struct phase *ph, int strict)
{
    char why[64];
    if (!strict) {
        ph->gate = 0;
        return;
    }
    snprintf(why, sizeof why, "no echo within %.3g s", r->o->timeout);
    for (int i = first; i < ph->launched; i++) {
        struct conn *c = &r->conns[i];
        if (c->fd >= 0 && !c->confirmed)
            fail(r, c, ph, c->connected ? why : "connect did not complete in time");
    }
}

static void launch_batch(struct run *r, struct phase *ph, int strict)
{
    int end = ph->launched + r->o->batch;
    while (ph->launched < r->o->conns && ph->launched < end) {
        const char *why = launch(r, ph->launched++);
        if (why && !ph->why[0])
            snprintf(ph->why, sizeof ph->why, "%s", why);
        ph->failed += why != NULL;
        if (why && strict)
            break;  /* out of descriptors or ports: opening more would fail alike */
    }
}

static void phase_event(struct run *r, struct epoll_event *e, struct phase *ph)
{
    struct conn *c;
    const char *why = NULL;
    int done;
    if (self_event(r, e->data.u64))
        return;
    c = &r->conns[e->data.u64];
    if (c->fd < 0 || c->confirmed)
        return;
    if ((done = conn_event(r, c, e->events, HOLD_STILL, &why)) < 0) {
        fail(r, c, ph, why);
        return;
    }
    if (done) {
        c->confirmed = 1;
        ph->confirmed++;
    }
    if (done)  /* quiet until the warm-up (pingpong) or for good (hold) */
        epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
    else
        update_interest(r, c, e->data.u64);
}

static void establish(struct run *r, struct phase *ph, int strict, uint64_t deadline)
{
    struct epoll_event events[256];
    uint64_t expires = 0, timeout = (uint64_t)(r->o->timeout * 1e9);
    int first = 0, expired = 0;
    memset(ph, 0, sizeof *ph);
    ph->gate = 1;
    while (!stop_flag) {
        uint64_t now = now_ns();
        int n;
        if (!expired && ph->launched > first && now >= expires) {
            batch_expired(r, first, ph, strict);
            expired = 1;
        }
        if (expired || batch_settled(r, first, ph)) {
            if (ph->launched == r->o->conns || now >= deadline || (strict && ph->why[0]))
                break;
            first = ph->launched, expires = now + timeout, expired = 0;
            launch_batch(r, ph, strict);
            continue;
        }
        n = epoll_wait(r->ep, events, 256, (int)((expires - now) / 1000000) + 1);
        for (int k = 0; k < n; k++)
            phase_event(r, &events[k], ph);
    }
}

/* The measured part of pingpong: every connection keeps one request in flight. */
static uint64_t pingpong_loop(struct run *r, uint64_t w0, uint64_t w1, double *cpu)
{
    struct epoll_event events[256];
    uint64_t requests = 0, now;
    int announced = 0;
    while ((now = now_ns()) < w1 && !stop_flag) {
        int n;
        if (!announced && now >= w0) {
            announced = 1;
            *cpu = cpu_s();
            printf("{\"event\": \"window\"}\n");
            fflush(stdout);
        }
        n = epoll_wait(r->ep, events, 256, (int)(((announced ? w1 : w0) - now) / 1000000) + 1);
        for (int k = 0; k < n; k++) {
            uint64_t tag = events[k].data.u64;
            struct conn *c = &r->conns[tag];
            const char *why;
            if (self_event(r, tag) || c->fd < 0)
                continue;
            switch (conn_event(r, c, events[k].events, 0, &why)) {
            case -1:
                r->errors++;
                drop(r, c);
                continue;
            case 1:
                /* c->started: the next request's send, just after this reply came */
                if (c->started >= w0 && c->started < w1) {
                    record(c->latency);
                    requests++;
                    c->done++;
                }
            }
            update_interest(r, c, tag);
        }
    }
    *cpu = cpu_s() - *cpu;
    return requests;
}

/* Every confirmed connection sends its next request: the warm-up begins. */
static void resume(struct run *r)
{
    for (int i = 0; i < r->o->conns; i++) {
        struct conn *c = &r->conns[i];
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
        if (c->fd < 0 || !c->confirmed)
            continue;
        c->interest = ev.events;
        epoll_ctl(r->ep, EPOLL_CTL_ADD, c->fd, &ev);
        if (send_request(c, r->buf, r->size) < 0) {
            r->errors++;
            drop(r, c);
        } else {
            update_interest(r, c, (uint64_t)i);
        }
    }
}

static int pingpong(struct opts *o)
{
    struct run r;
    struct phase ph;
    uint64_t t0 = now_ns(), requests, w0;
    int connected = 0, starved = 0;
    double cpu = 0, connect_s;
    run_init(&r, o, o->size);
    establish(&r, &ph, 0, t0 + (uint64_t)(o->connect * 1e9));
    connect_s = (double)(now_ns() - t0) / 1e9;
    resume(&r);
    w0 = now_ns() + (uint64_t)(o->warmup * 1e9);
    requests = pingpong_loop(&r, w0, w0 + (uint64_t)(o->duration * 1e9), &cpu);
    for (int i = 0; i < o->conns; i++) {
        connected += r.conns[i].connected;
        starved += r.conns[i].confirmed && r.conns[i].done == 0;
    }
    printf("{\"mode\": \"pingpong\", \"conns\": %d, \"connected\": %d, \"connect_failed\": %d, "
           "\"confirmed\": %d, \"unconfirmed\": %d, \"connect_s\": %.3f, "
           "\"size\": %d, \"requests\": %llu, \"seconds\": %.6f, \"rate\": %.1f, "
           "\"p50_us\": %.2f, \"p99_us\": %.2f, \"max_us\": %.2f, \"starved\": %d, "
           "\"errors\": %llu, \"cpu_s\": %.6f, \"self\": %s}\n",
           o->conns, connected, ph.failed, ph.confirmed, o->conns - ph.confirmed, connect_s,
           o->size, (unsigned long long)requests, o->duration,
           (double)requests / o->duration, quantile_us(requests, 0.5),
           quantile_us(requests, 0.99), quantile_us(requests, 0.999999),
           starved, (unsigned long long)r.errors, cpu, o->self ? "true" : "false");
    return 0;
}

static int bulk(struct opts *o)
{
    int ep = epoll_create1(EPOLL_CLOEXEC), fd = start_connect(o), announced = 0;
    /* The pattern runs SIZE + 251 bytes so that a write of SIZE can start at any phase. */
    char *out = malloc((size_t)o->size + 251), *in = malloc(1 << 20);
    uint64_t sent = 0, got = 0, counted = 0, t0, w0, w1, now;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT}, events[4];
    double cpu0 = 0, cpu1;
    const char *error = "";
    if (ep < 0 || fd < 0 || !out || !in)
        die("connect");
    for (int i = 0; i < o->size + 251; i++)
        out[i] = (char)(i % 251);
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    /* The window opens after the warm-up once the echo flows (at the latest TIMEOUT
     * seconds later). */
    t0 = now_ns();
    w0 = t0 + (uint64_t)((o->warmup + o->timeout) * 1e9);
    w1 = w0 + (uint64_t)(o->duration * 1e9);
    while ((now = now_ns()) < w1 && !stop_flag && !*error) {
        int n;
        if (!announced && now >= t0 + (uint64_t)(o->warmup * 1e9) && (got || now >= w0)) {
            announced = 1;
            w0 = now;
            w1 = w0 + (uint64_t)(o->duration * 1e9);
            counted = got;
            cpu0 = cpu_s();
            printf("{\"event\": \"window\"}\n");
            fflush(stdout);
        }
        n = epoll_wait(ep, events, 4, 10);
        for (int k = 0; k < n && !*error; k++) {
            if (events[k].events & EPOLLOUT) {
                /* Each write starts where the pattern's period (251) says it should. */
                size_t off = (size_t)(sent % 251);
                ssize_t w = send(fd, out + off, (size_t)o->size, MSG_NOSIGNAL);
                if (w < 0 && errno != EAGAIN)
                    error = "send failed";
                if (w > 0)
                    sent += (uint64_t)w;
            }
            if (events[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                ssize_t r = recv(fd, in, 1 << 20, 0);
                if (r == 0)
                    error = "the server closed the connection";
                else if (r < 0 && errno != EAGAIN)
                    error = "recv failed";
                else if (r > 0) {
                    /* Both ends of each read: a lost, doubled or reordered byte shifts
                     * the pattern, at no cost that would lower the generator's ceiling. */
                    if ((unsigned char)in[0] != (unsigned char)(got % 251) ||
                        (unsigned char)in[r - 1] != (unsigned char)((got + (uint64_t)r - 1) % 251))
                        error = "the echo differs from what was sent";
                    got += (uint64_t)r;
                }
            }
        }
    }
    cpu1 = cpu_s();
    if (!announced)
        counted = got;
    printf("{\"mode\": \"bulk\", \"size\": %d, \"sent\": %llu, \"echoed\": %llu, "
           "\"seconds\": %.6f, \"bytes_per_s\": %.1f, \"cpu_s\": %.6f, \"errors\": %d, "
           "\"reason\": \"%s\"}\n",
           o->size, (unsigned long long)sent, (unsigned long long)got, o->duration,
           (double)(got - counted) / o->duration, announced ? cpu1 - cpu0 : 0.0,
           *error ? 1 : 0, error);
    return 0;
}

static int hold(struct opts *o)
{
    struct run r;
    struct phase ph;
    uint64_t t0 = now_ns();
    const char *why = "target reached";
    char line[64];
    run_init(&r, o, 8);
    establish(&r, &ph, 1, t0 + (uint64_t)(o->duration * 1e9));
    if (ph.why[0])
        why = ph.why;
    else if (stop_flag && ph.confirmed < o->conns)
        why = "interrupted";
    else if (ph.confirmed < o->conns)
        why = "time limit";
    printf("{\"mode\": \"hold\", \"target\": %d, \"held\": %d, \"seconds\": %.3f, "
           "\"stopped\": \"%s\", \"batch\": %d}\n", o->conns, ph.confirmed,
           (double)(now_ns() - t0) / 1e9, why, o->batch);
    fflush(stdout);
    /* Keep them until the caller closes our stdin (or KEEP seconds pass). */
    {
        struct pollfd p = {.fd = 0, .events = POLLIN};
        uint64_t until = now_ns() + (uint64_t)(o->keep * 1e9);
        while (!stop_flag && now_ns() < until) {
            if (poll(&p, 1, 100) == 1 && read(0, line, sizeof line) <= 0)
                break;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    parse(argc, argv, &o);
    raise_nofile();
    if (strcmp(o.mode, "pingpong") == 0)
        return pingpong(&o);
    if (strcmp(o.mode, "bulk") == 0)
        return bulk(&o);
    if (strcmp(o.mode, "hold") == 0)
        return hold(&o);
    usage();
    return 2;
}
