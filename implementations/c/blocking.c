/* Model "blocking": blocking sockets, one client at a time.
 *
 * accept() puts the thread to sleep until the kernel has a completed connection in the
 * listen queue; recv() sleeps until at least one byte has arrived, or the peer's FIN, which
 * makes it return 0 (the only way a stream says "end"); send() sleeps until the kernel has
 * copied what it can into the socket's send buffer, and may take less than asked, hence
 * send_all().  Between those calls nothing else happens, so the code reads like a story.
 *
 * The trap: while one client is being served nobody else is.  A client that connects and
 * says nothing holds the server hostage; the others complete their handshake anyway (the
 * kernel does that, into the listen backlog) and wait.  With the seed's listen(fd, 1) the
 * kernel even drops the SYNs of a connect burst; we ask for SOMAXCONN.  A quieter trap of
 * blocking echo: sending to a client that sends a lot but does not read blocks once both
 * directions' buffers are full, and only the client can break that deadlock.
 *
 * What the seed got wrong, and we do not: recv() returning -1 (a reset) was neither > 0
 * nor == 0, so its loop spun forever on a dead socket; here -1 ends that client.  And
 * buffer[ret] = 0 after reading 255 bytes into a 255-byte buffer wrote one past its end;
 * emit() takes a length instead.
 */
#include "common.h"

/* send() until all n bytes are in the kernel: 0, or -1 when the client is gone. */
static int send_all(sock_t fd, const char *buf, size_t n)
{
    while (n > 0) {
        long sent = (long)send(fd, buf, (int)n, 0);
        if (sent < 0) {
            if (sock_interrupted(sock_errno()))
                continue;
            return -1; /* EPIPE or ECONNRESET: SIGPIPE is ignored, so we get to see it */
        }
        buf += sent;
        n -= (size_t)sent;
    }
    return 0;
}

/* Serve one connection to its end, then close it.  Blocks for as long as the client lives. */
static void serve_client(sock_t fd, const struct options *opt)
{
    for (;;) {
        long n = (long)recv(fd, opt->buf, (int)opt->bufsize, 0);
        if (n < 0 && sock_interrupted(sock_errno()))
            continue;
        if (n <= 0)
            break; /* 0: EOF; -1: reset.  Either way this client is done */
        emit(opt->buf, (size_t)n);
        if (opt->echo && send_all(fd, opt->buf, (size_t)n) != 0)
            break;
    }
    sock_close(fd);
}

int main(int argc, char **argv)
{
    struct options opt;
    sock_t listener;

    parse_args(argc, argv, &opt);
    listener = listen_on(opt.port);
    for (;;) {
        sock_t fd = accept_client(listener);
        if (fd == BAD_SOCKET) {
            sleep_ms(100); /* EMFILE and the like: the client stays queued; do not spin */
            continue;
        }
        serve_client(fd, &opt);
    }
}
