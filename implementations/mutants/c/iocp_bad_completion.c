/* MUTANT iocp_bad_completion (model "iocp", Windows): a failed completion ends the worker.
 *
 * The seed's workerThread() stores GetQueuedCompletionStatus()'s result in bResult and
 * never looks at it.  A student told to check it writes what the seed does for a failed
 * accept (`exit`, `return false`): the worker gives up, `return 0`.  But FALSE with an
 * OVERLAPPED is not the port failing: it is one operation failing, the receive of a
 * client that reset its connection.  Each reset ends one worker; there is one worker per
 * processor, so a few resets leave the port with nobody to dequeue completions.  The
 * server still accepts, posts a receive for each new client, and never answers again.
 * (The client that reset also keeps its socket: nobody will close it.)  Otherwise a copy
 * of ../../c/iocp.c.
 *
 * Caught by DISCONNECT-2 (three clients reset mid-transfer; then a fresh client is not
 * served) and ROBUST-2/ROBUST-3 (after the resets, nobody new is served) -- as long as
 * the resets outnumber the workers, i.e. the processors (two on the machine this was
 * measured on; DISCONNECT-2 resets three clients, ROBUST-3 many).
 */
#include <process.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* Bytes owed to the client: p[head .. len). */
struct buf {
    char *p;
    size_t head, len, cap;
};

struct client {
    SOCKET s;              /* INVALID_SOCKET once closed */
    CRITICAL_SECTION lock; /* its completions may run on two workers at once */
    OVERLAPPED rd, wr;     /* which operation a completion belongs to: its address says */
    int reading, writing;  /* the receive or the send is outstanding */
    int eof, broken;
    char *in;              /* the receive's buffer: the kernel's while reading */
    struct buf sending;    /* the send's buffer: the kernel's while writing */
    struct buf queued;     /* received while the send was outstanding: ours */
};

static struct options opt; /* set once in main, read by every worker */
static CRITICAL_SECTION stdout_lock;

static void client_free(struct client *c)
{
    if (c->s != INVALID_SOCKET)
        closesocket(c->s);
    DeleteCriticalSection(&c->lock);
    free(c->in);
    free(c->sending.p);
    free(c->queued.p);
    free(c);
}

static struct client *client_new(SOCKET s)
{
    struct client *c = calloc(1, sizeof *c);

    if (c == NULL || (c->in = malloc(opt.bufsize)) == NULL) {
        free(c);
        closesocket(s);
        return NULL;
    }
    c->s = s;
    InitializeCriticalSection(&c->lock);
    return c;
}

static int append(struct buf *b, const char *data, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->len + n > 2 * b->cap ? b->len + n : 2 * b->cap;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

/* Start an operation; -1 when it failed at once, and then no completion will come. */
static int post_recv(struct client *c)
{
    WSABUF wb = { (ULONG)opt.bufsize, c->in }; /* Winsock copies the WSABUF array itself */
    DWORD flags = 0;

    memset(&c->rd, 0, sizeof c->rd);
    c->reading = 1; /* before the call: its completion may be dequeued before it returns */
    if (WSARecv(c->s, &wb, 1, NULL, &flags, &c->rd, NULL) != 0
            && WSAGetLastError() != WSA_IO_PENDING) {
        c->reading = 0;
        return -1;
    }
    return 0;
}

static int post_send(struct client *c)
{
    WSABUF wb = { (ULONG)(c->sending.len - c->sending.head), c->sending.p + c->sending.head };

    memset(&c->wr, 0, sizeof c->wr);
    c->writing = 1;
    if (WSASend(c->s, &wb, 1, NULL, 0, &c->wr, NULL) != 0
            && WSAGetLastError() != WSA_IO_PENDING) {
        c->writing = 0;
        return -1;
    }
    return 0;
}

static void received(struct client *c, DWORD n, BOOL ok)
{
    c->reading = 0;
    if (!ok) {
        c->broken = 1; /* reset, or cancelled by our closesocket() */
    } else if (n == 0) {
        c->eof = 1;
    } else {
        EnterCriticalSection(&stdout_lock); /* one chunk, one line, whole */
        emit(c->in, n);
        LeaveCriticalSection(&stdout_lock);
        if (opt.echo && append(&c->queued, c->in, n) != 0)
            c->broken = 1;
    }
}

static void sent(struct client *c, DWORD n, BOOL ok)
{
    c->writing = 0;
    if (!ok) {
        c->broken = 1;
        return;
    }
    c->sending.head += n; /* short only on error in practice; the rest is re-sent anyway */
    if (c->sending.head == c->sending.len)
        c->sending.head = c->sending.len = 0;
}

/* Start what the client's state now allows and close it when it is over.  Called with its
 * lock held; 1 when it is closed and nothing is outstanding: its memory can go. */
static int settle(struct client *c)
{
    if (!c->broken && !c->writing && c->sending.len == 0) {
        struct buf t = c->sending; /* what arrived meanwhile becomes the next send */
        c->sending = c->queued;
        c->queued = t;
    }
    if (!c->broken && !c->writing && c->sending.len > 0 && post_send(c) != 0)
        c->broken = 1;
    if (!c->broken && !c->reading && !c->eof && c->queued.len <= HIGH_WATER
            && post_recv(c) != 0)
        c->broken = 1;
    if (c->s != INVALID_SOCKET
            && (c->broken || (c->eof && !c->writing && c->sending.len == 0))) {
        closesocket(c->s); /* what is still outstanding completes now, failed */
        c->s = INVALID_SOCKET;
    }
    return c->s == INVALID_SOCKET && !c->reading && !c->writing;
}

static void completed(struct client *c, OVERLAPPED *ov, DWORD n, BOOL ok)
{
    int done;

    EnterCriticalSection(&c->lock);
    if (ov == &c->rd)
        received(c, n, ok);
    else
        sent(c, n, ok);
    done = settle(c);
    LeaveCriticalSection(&c->lock);
    if (done) /* no completion can name c any more: nobody else can be waiting for it */
        client_free(c);
}

static unsigned __stdcall worker(void *port)
{
    for (;;) {
        DWORD n = 0;
        ULONG_PTR key = 0;
        OVERLAPPED *ov = NULL;
        BOOL ok = GetQueuedCompletionStatus((HANDLE)port, &n, &key, &ov, INFINITE);

        if (!ok) { /* DEFECT: FALSE with an OVERLAPPED is one failed operation, not the port */
            fprintf(stderr, "GetQueuedCompletionStatus: error %lu\n", GetLastError());
            return 0;
        }
        completed((struct client *)key, ov, n, ok);
    }
}

/* One worker per processor, as the port lets that many run at once. */
static void start_workers(HANDLE port)
{
    SYSTEM_INFO si;
    DWORD i;

    GetSystemInfo(&si);
    for (i = 0; i < si.dwNumberOfProcessors; i++) {
        /* _beginthreadex, not CreateThread: the workers use the C runtime's stdio. */
        uintptr_t t = _beginthreadex(NULL, 0, worker, port, 0, NULL);
        if (t == 0) {
            perror("_beginthreadex");
            exit(1);
        }
        CloseHandle((HANDLE)t);
    }
}

int main(int argc, char **argv)
{
    HANDLE port;
    SOCKET listener;

    parse_args(argc, argv, &opt);
    InitializeCriticalSection(&stdout_lock);
    listener = listen_on(opt.port);
    port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    if (port == NULL) {
        fprintf(stderr, "CreateIoCompletionPort: error %lu\n", GetLastError());
        return 1;
    }
    start_workers(port);
    for (;;) {
        SOCKET s = accept_client(listener);
        struct client *c;
        int done;

        if (s == BAD_SOCKET) {
            sleep_ms(100); /* WSAEMFILE and the like: the client stays queued; do not spin */
            continue;
        }
        if ((c = client_new(s)) == NULL)
            continue;
        /* From here on, every completion of s is queued on the port with c as its key. */
        if (CreateIoCompletionPort((HANDLE)s, port, (ULONG_PTR)c, 0) == NULL) {
            client_free(c);
            continue;
        }
        EnterCriticalSection(&c->lock);
        done = settle(c); /* posts the first receive */
        LeaveCriticalSection(&c->lock);
        if (done)
            client_free(c);
    }
}
