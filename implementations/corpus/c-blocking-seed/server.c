/* The seed's blocking server (BlockIO.TcpServer), for Linux and correct: one client at a
 * time, the seed's banners before every accept() and every recv(), its 255-byte reads,
 * its listen(server, 1), and its printf("%s\n", buffer) -- an echo as well.
 *
 * What the seed got wrong, and what this file does instead:
 * - the port is the command line's, not 3000;
 * - recv() returning -1 (a reset) ends the client like 0 does, instead of looping on it;
 * - the buffer holds BUFFER_SIZE + 1 bytes, so buffer[ret] = 0 stays inside it;
 * - send() may take less than asked (send(2)): the echo loops until all is sent;
 * - a client that reset the connection makes send() fail with EPIPE, and raise SIGPIPE,
 *   whose default action ends the process (signal(7)): SIGPIPE is ignored;
 * - stdout is a pipe here, fully buffered (stdio(3)): it is made line-buffered, so every
 *   printf ending in '\n' reaches the reader at once.
 * A backlog of 1 is legal: listen(2) lets the kernel drop a SYN when the queue is full,
 * and the client's TCP retries it.  printf("%s") stops at a NUL byte, like the seed's.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFFER_SIZE 255

static int createTcpSocket(void)
{
    int result = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    int on = 1;
    if (result < 0 || setsockopt(result, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0) {
        perror("socket");
        exit(1);
    }
    return result;
}

static struct sockaddr_in createSocketConfig(unsigned short hostshort)
{
    struct sockaddr_in result;
    memset(&result, 0, sizeof result);
    result.sin_family = AF_INET;
    result.sin_port = htons(hostshort);
    result.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return result;
}

static int sendAll(int aSocket, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(aSocket, data, len, 0);
        if (n < 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static void handleLoop(int aSocket)
{
    char *buffer = malloc(BUFFER_SIZE + 1);
    if (buffer == NULL)
        exit(1);
    while (1) {
        printf("******** sys recv() ********\n");
        ssize_t ret = recv(aSocket, buffer, BUFFER_SIZE, 0);
        if (ret <= 0)
            break; /* 0: the client closed; -1: it reset */
        buffer[ret] = 0x00;
        printf("%s\n", buffer);
        if (sendAll(aSocket, buffer, (size_t)ret) < 0)
            break;
    }
    close(aSocket);
    free(buffer);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);

    int server = createTcpSocket();
    struct sockaddr_in serverAddr = createSocketConfig((unsigned short)atoi(argv[1]));
    if (bind(server, (struct sockaddr *)&serverAddr, sizeof serverAddr) < 0
        || listen(server, 1) < 0) {
        perror("bind/listen");
        return 1;
    }
    while (1) {
        struct sockaddr_in clientAddrBuffer;
        socklen_t addr_len = sizeof clientAddrBuffer;
        printf("******* sys accept() ********\n");
        int clientSocket = accept(server, (struct sockaddr *)&clientAddrBuffer, &addr_len);
        if (clientSocket < 0)
            continue; /* ECONNABORTED, EINTR, EMFILE: the next client may do */
        handleLoop(clientSocket);
    }
}
