/* A select() echo server in the shape of Stevens' tcpservselect01.c (UNIX Network
 * Programming, 6.8): client[] holds the connected descriptors, maxi the highest slot in
 * use, allset the descriptors to watch, maxfd the highest of them, nready the count
 * select() returned -- and a backlog of 64, like the seed's select server.
 *
 * Stevens' version writes the echo with a blocking Writen(), so one client that sends
 * without reading blocks the whole server in write().  Here sockets are non-blocking and
 * each client owns an output buffer: what send() does not take stays there, the socket
 * goes into the write set while it is not empty, and it leaves the read set above 64 KiB
 * pending (reading resumes as the client reads its echo).
 *
 * select() is level-triggered (select(2)): a socket with unread bytes is reported again,
 * so one 4096-byte read per wake-up loses nothing.  fd_set holds FD_SETSIZE (1024)
 * descriptors, and FD_SET() past that writes out of bounds (select(2), BUGS): a
 * connection whose descriptor does not fit is closed at once, and the others go on.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXLINE 4096
#define HIGH_WATER (64 * 1024)

struct client {
    int fd;           /* -1: free slot */
    int eof;
    char *out;        /* pending echo: out[head..len) */
    size_t head, len, cap;
};

static struct client client[FD_SETSIZE];

static void drop(struct client *c, fd_set *rset, fd_set *wset)
{
    close(c->fd);
    FD_CLR(c->fd, rset);
    FD_CLR(c->fd, wset);
    free(c->out);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

static int queue(struct client *c, const char *buf, size_t n)
{
    if (c->head > 0) {
        memmove(c->out, c->out + c->head, c->len - c->head);
        c->len -= c->head;
        c->head = 0;
    }
    if (c->len + n > c->cap) {
        size_t cap = c->len + n + MAXLINE;
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

/* Recompute which sets the client belongs to from its state. */
static void update(struct client *c, fd_set *allrset, fd_set *allwset)
{
    if (!c->eof && c->len - c->head <= HIGH_WATER)
        FD_SET(c->fd, allrset);
    else
        FD_CLR(c->fd, allrset);
    if (c->len > c->head)
        FD_SET(c->fd, allwset);
    else
        FD_CLR(c->fd, allwset);
}

int main(int argc, char **argv)
{
    int i, maxi, maxfd, listenfd, connfd, sockfd, nready, on = 1;
    ssize_t n;
    fd_set rset, wset, allrset, allwset;
    char buf[MAXLINE];
    struct sockaddr_in servaddr;

    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    listenfd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(listenfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    memset(&servaddr, 0, sizeof servaddr);
    servaddr.sin_family = AF_INET;
    servaddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    servaddr.sin_port = htons((unsigned short)atoi(argv[1]));
    if (bind(listenfd, (struct sockaddr *)&servaddr, sizeof servaddr) < 0
        || listen(listenfd, 64) < 0) {
        perror("listen");
        return 1;
    }
    fcntl(listenfd, F_SETFL, O_NONBLOCK); /* a client that resets while queued must not
                                             leave us blocked in accept() */
    maxfd = listenfd;
    maxi = -1;
    for (i = 0; i < FD_SETSIZE; i++)
        client[i].fd = -1;
    FD_ZERO(&allrset);
    FD_ZERO(&allwset);
    FD_SET(listenfd, &allrset);

    for (;;) {
        rset = allrset;
        wset = allwset;
        nready = select(maxfd + 1, &rset, &wset, NULL, NULL);
        if (nready < 0) {
            if (errno == EINTR)
                continue;
            perror("select");
            return 1;
        }

        if (FD_ISSET(listenfd, &rset)) {
            connfd = accept(listenfd, NULL, NULL);
            if (connfd >= FD_SETSIZE) {
                close(connfd); /* does not fit in an fd_set: refuse this client */
            } else if (connfd >= 0) {
                for (i = 0; i < FD_SETSIZE; i++)
                    if (client[i].fd < 0)
                        break;
                client[i].fd = connfd; /* a free slot exists: connfd < FD_SETSIZE */
                fcntl(connfd, F_SETFL, O_NONBLOCK);
                FD_SET(connfd, &allrset);
                if (connfd > maxfd)
                    maxfd = connfd;
                if (i > maxi)
                    maxi = i;
            }
            if (--nready <= 0)
                continue;
        }

        for (i = 0; i <= maxi; i++) {
            struct client *c = &client[i];
            int touched = 0;
            if ((sockfd = c->fd) < 0)
                continue;
            if (FD_ISSET(sockfd, &rset)) {
                touched = 1;
                n = recv(sockfd, buf, MAXLINE, 0);
                if (n == 0) {
                    c->eof = 1;
                } else if (n > 0) {
                    printf("recv ");
                    fwrite(buf, 1, (size_t)n, stdout);
                    printf("\n");
                    fflush(stdout);
                    if (queue(c, buf, (size_t)n) < 0) {
                        drop(c, &allrset, &allwset);
                        continue;
                    }
                } else if (errno != EAGAIN && errno != EINTR) {
                    drop(c, &allrset, &allwset);
                    continue;
                }
            }
            if (FD_ISSET(sockfd, &wset) || (touched && c->len > c->head)) {
                touched = 1;
                n = send(sockfd, c->out + c->head, c->len - c->head, MSG_NOSIGNAL);
                if (n > 0) {
                    c->head += (size_t)n;
                } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                    drop(c, &allrset, &allwset);
                    continue;
                }
            }
            if (c->eof && c->len == c->head) {
                drop(c, &allrset, &allwset);
                continue;
            }
            update(c, &allrset, &allwset);
            if (touched && --nready <= 0)
                break;
        }
    }
}
