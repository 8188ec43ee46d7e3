/* compat.h: the few places where POSIX sockets and Winsock disagree.
 *
 * Berkeley sockets became Winsock almost unchanged, so the servers here read the same on
 * both, except for these spellings:
 * - a socket is an int descriptor on POSIX, an opaque SOCKET handle (unsigned) on Windows,
 *   so "no socket" is -1 on one and INVALID_SOCKET on the other;
 * - close() versus closesocket(): on Windows close() is for CRT file descriptors only;
 * - the error code of a failed call is in errno versus WSAGetLastError(), and "would
 *   block" is EAGAIN/EWOULDBLOCK (the same value on Linux, not everywhere) versus
 *   WSAEWOULDBLOCK;
 * - non-blocking mode is the O_NONBLOCK file status flag, set with fcntl(), versus the
 *   FIONBIO ioctl, set with ioctlsocket();
 * - writing to a connection the peer has reset raises SIGPIPE on POSIX, whose default action
 *   kills the whole server for one client's rudeness.  We ignore it, so send() fails with
 *   EPIPE instead, which we handle like any other error.  Windows has no SIGPIPE;
 * - Winsock must be started (WSAStartup) before any socket call and stopped after; POSIX
 *   needs neither;
 * - a failed Winsock call does not set errno, so perror() would print a stale or unrelated
 *   reason: sock_perror() prints WSAGetLastError() instead;
 * - the C runtime opens stdout in text mode on Windows, where every '\n' written becomes
 *   "\r\n": a received LF would reach stdout altered.  stdout_binary() turns that off.
 * blocking.c, nonblocking.c and select.c build on both (select.c keeps its own #ifdef for
 * FD_SETSIZE, which means different things on each); iocp.c is Windows only; the others
 * use mechanisms (poll's POLLHUP semantics aside, epoll, SIGIO) that only Linux has.
 */
#ifndef COMPAT_H
#define COMPAT_H

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#include <fcntl.h>
#include <io.h>
#include <stdio.h>

typedef SOCKET sock_t;
#define BAD_SOCKET INVALID_SOCKET
#define sock_close closesocket
#define sock_errno() WSAGetLastError()

static inline int sock_would_block(int err) { return err == WSAEWOULDBLOCK; }
static inline int sock_interrupted(int err) { return err == WSAEINTR; }
static inline int sock_aborted(int err) { return err == WSAECONNABORTED || err == WSAECONNRESET; }

static inline int set_nonblocking(sock_t s)
{
    u_long on = 1;
    return ioctlsocket(s, FIONBIO, &on) == 0 ? 0 : -1;
}

static inline int net_startup(void)
{
    WSADATA data;
    return WSAStartup(MAKEWORD(2, 2), &data) == 0 ? 0 : -1;
}

static inline void net_cleanup(void) { WSACleanup(); }
static inline void sleep_ms(unsigned ms) { Sleep(ms); }

static inline void sock_perror(const char *what)
{
    fprintf(stderr, "%s: Winsock error %d\n", what, WSAGetLastError());
}

static inline void stdout_binary(void) { _setmode(_fileno(stdout), _O_BINARY); }

#else
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef int sock_t;
#define BAD_SOCKET (-1)
#define sock_close close
#define sock_errno() errno

static inline int sock_would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK; }
static inline int sock_interrupted(int err) { return err == EINTR; }
/* A client that connected and reset while still queued: skip it, the next one may be fine. */
static inline int sock_aborted(int err) { return err == ECONNABORTED || err == EPROTO; }

static inline int set_nonblocking(sock_t s)
{
    int flags = fcntl(s, F_GETFL);
    return flags < 0 ? -1 : fcntl(s, F_SETFL, flags | O_NONBLOCK);
}

static inline int net_startup(void)
{
    /* EPIPE from send() is an ordinary per-client error; SIGPIPE would end every client. */
    return signal(SIGPIPE, SIG_IGN) == SIG_ERR ? -1 : 0;
}

static inline void net_cleanup(void) {}

static inline void sleep_ms(unsigned ms)
{
    /* nanosleep, not usleep: usleep left POSIX in 2008. */
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static inline void sock_perror(const char *what) { perror(what); }
static inline void stdout_binary(void) {}
#endif

#endif /* COMPAT_H */
