/* The seed's NonBlockIO.TcpServer for Linux, made correct: every socket O_NONBLOCK, and
 * one loop that polls them all with plain system calls -- accept() until EAGAIN, then
 * recv() of 1024 bytes on each client and send() of what it owes -- sleeping 1 ms only
 * after a pass in which nothing happened.
 *
 * The seed handled one client at a time (its handleFunc looped on that client alone) and
 * slept 100 ms after every EAGAIN.  Here all clients share the loop; one recv() per
 * client per pass keeps a fast sender from holding it.  What send() cannot take waits in
 * the client's buffer; a client with more than 64 KiB waiting is not read until it reads.
 * The banner is the seed's, once per chunk: "******** recv polling ********".
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF 1024
#define HIGH_WATER (64 * 1024)

struct client {
    int fd, eof;
    char *out;
    size_t head, len, cap;
};

static struct client *clients;
static size_t nclients, capclients;

static void setIoNonBlock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static int owe(struct client *c, const char *buf, size_t n)
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

/* One pass over one client: 1 if something happened, 0 if not, -1 to close it. */
static int poll_client(struct client *c, char *buffer)
{
    int busy = 0;
    if (!c->eof && c->len - c->head <= HIGH_WATER) {
        ssize_t ret = recv(c->fd, buffer, BUF, 0);
        if (ret > 0) {
            printf("******** recv polling ********\n");
            fwrite(buffer, 1, (size_t)ret, stdout);
            printf("\n");
            fflush(stdout);
            if (owe(c, buffer, (size_t)ret) < 0)
                return -1;
            busy = 1;
        } else if (ret == 0) {
            c->eof = 1;
            busy = 1;
        } else if (errno != EAGAIN && errno != EINTR) {
            return -1;
        }
    }
    if (c->len > c->head) {
        ssize_t n = send(c->fd, c->out + c->head, c->len - c->head, MSG_NOSIGNAL);
        if (n > 0) {
            c->head += (size_t)n;
            busy = 1;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            return -1;
        }
    }
    if (c->eof && c->head == c->len)
        return -1;
    return busy;
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr;
    struct timespec nap = { 0, 1000000 };
    int server, on = 1;
    char buffer[BUF];

    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    server = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(argv[1]));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (server < 0 || bind(server, (struct sockaddr *)&addr, sizeof addr) < 0
        || listen(server, SOMAXCONN) < 0) {
        perror("listen");
        return 1;
    }
    setIoNonBlock(server);
    for (;;) {
        int busy = 0, fd;
        size_t i;
        while ((fd = accept(server, NULL, NULL)) >= 0 || errno == ECONNABORTED
               || errno == EINTR) {
            if (fd < 0)
                continue;
            if (nclients == capclients) {
                size_t cap = capclients ? 2 * capclients : 16;
                struct client *p = realloc(clients, cap * sizeof *p);
                if (p == NULL) {
                    close(fd);
                    continue;
                }
                clients = p;
                capclients = cap;
            }
            setIoNonBlock(fd);
            memset(&clients[nclients], 0, sizeof clients[nclients]);
            clients[nclients++].fd = fd;
            busy = 1;
        }
        for (i = 0; i < nclients;) {
            int r = poll_client(&clients[i], buffer);
            if (r < 0) {
                close(clients[i].fd);
                free(clients[i].out);
                clients[i] = clients[--nclients];
                busy = 1;
                continue;
            }
            busy |= r;
            i++;
        }
        if (!busy)
            nanosleep(&nap, NULL);
    }
}
