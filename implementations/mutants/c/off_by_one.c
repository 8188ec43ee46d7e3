/* MUTANT off_by_one (model "blocking"): the seed's terminator one past the buffer.
 *
 * Mirrors the seed's select server (`#define BUFFER_SIZE 255`, `recv(sock, buffer,
 * BUFFER_SIZE, 0)`, then printBufferIO(): `buffer[len] = 0x00`) and its poll server
 * (`buffer[nRed] = 0x00` after `recv(fd, buffer, BUF_SIZE, 0)`).  When a recv() fills the
 * whole buffer, len == BUFFER_SIZE and the NUL is written one byte past its end.  The
 * student kept the terminator "to be safe" but prints and echoes by length, so every byte
 * sent and printed is right: the stray byte lands in heap padding and nothing shows.
 *
 * Caught by ROBUST-4 only, with --sanitize: AddressSanitizer reports a heap-buffer-overflow
 * (the buffer is malloc()ed, so the byte past it is in a redzone).  Every other clause
 * passes.
 *
 * A whole program, not linked with ../../c/common.c: ROBUST-4 builds this folder with the
 * sanitizer in a copy of it alone.  It does what ../../c/blocking.c does, with the same
 * command line (PORT, --service echo|print, --bufsize N).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void usage(const char *prog)
{
    fprintf(stderr, "usage: %s PORT [--service echo|print] [--bufsize N]\n", prog);
    exit(2);
}

static long number(const char *s, const char *prog)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0')
        usage(prog);
    return v;
}

static int listen_on(int port)
{
    struct sockaddr_in addr;
    int on = 1, s = socket(AF_INET, SOCK_STREAM, 0);

    if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) {
        perror("socket");
        exit(1);
    }
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(s, SOMAXCONN) != 0) {
        perror("bind/listen");
        exit(1);
    }
    return s;
}

static int send_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t sent = send(fd, buf, n, 0);
        if (sent < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += sent;
        n -= (size_t)sent;
    }
    return 0;
}

static void serve_client(int fd, char *buffer, size_t size, int echo)
{
    for (;;) {
        ssize_t len = recv(fd, buffer, size, 0);
        if (len < 0 && errno == EINTR)
            continue;
        if (len <= 0)
            break;
        buffer[len] = 0x00; /* DEFECT: len == size writes one byte past the buffer */
        fwrite(buffer, 1, (size_t)len, stdout);
        fputc('\n', stdout);
        fflush(stdout);
        if (echo && send_all(fd, buffer, (size_t)len) != 0)
            break;
    }
    close(fd);
}

int main(int argc, char **argv)
{
    int port = -1, echo = 1, i, listener;
    long size = 255;
    char *buffer;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--service") == 0 && i + 1 < argc) {
            const char *s = argv[++i];
            if (strcmp(s, "echo") != 0 && strcmp(s, "print") != 0)
                usage(argv[0]);
            echo = strcmp(s, "echo") == 0;
        } else if (strcmp(argv[i], "--bufsize") == 0 && i + 1 < argc) {
            size = number(argv[++i], argv[0]);
        } else if (port < 0 && argv[i][0] != '-') {
            port = (int)number(argv[i], argv[0]);
        } else {
            usage(argv[0]);
        }
    }
    if (port < 0 || port > 65535 || size < 1)
        usage(argv[0]);
    buffer = malloc((size_t)size); /* the seed's BUFFER_SIZE, with no byte for the NUL */
    if (buffer == NULL || signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        perror("setup");
        return 1;
    }
    listener = listen_on(port);
    for (;;) {
        int fd = accept(listener, NULL, NULL);
        if (fd < 0) {
            if (errno != EINTR && errno != ECONNABORTED) {
                struct timespec pause = { 0, 100000000L }; /* EMFILE: do not spin */
                nanosleep(&pause, NULL);
            }
            continue;
        }
        serve_client(fd, buffer, (size_t)size, echo);
    }
}
