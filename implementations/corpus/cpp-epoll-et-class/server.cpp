// An edge-triggered epoll echo server written as a C++ class, in the shape of the seed's
// NonBlockIO `class Server` (bindAndListen(), a loop method, a handler per socket):
// std::unordered_map from descriptor to connection, std::string as the output buffer,
// std::vector<char> as the read buffer (16 KiB), std::cout for the log.
//
// Edge-triggered (epoll(7)): a report comes when something changes, not while it holds.
// So the listener is drained with accept4() until EAGAIN, and a client is read until
// recv() fails with EAGAIN; the echo is sent until EAGAIN, and the rest leaves on the
// EPOLLOUT edge that comes when the socket has room again (every client is registered
// for EPOLLIN | EPOLLOUT | EPOLLET once, never modified).  Draining to EAGAIN means what
// a client sends is read in full: the output buffer is not bounded.
//
// std::cout is a stream over stdout: each chunk is written with cout.write() (exact
// bytes, NUL included) and flushed with std::endl's flush, "recv: " before it.
#include <arpa/inet.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <netinet/in.h>
#include <string>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <unordered_map>
#include <vector>

namespace {

struct Connection {
    int fd;
    std::string pending;
    bool eof = false;
    explicit Connection(int f) : fd(f) {}
    ~Connection() { close(fd); }
};

class Server {
public:
    explicit Server(unsigned short port) : buffer_(16 * 1024) { bindAndListen(port); }

    [[noreturn]] void run() {
        epoll_event events[64];
        for (;;) {
            int n = epoll_wait(epoll_, events, 64, -1);
            if (n < 0 && errno != EINTR)
                fail("epoll_wait");
            for (int i = 0; i < n; ++i) {
                if (events[i].data.fd == listener_)
                    acceptAll();
                else
                    handle(events[i].data.fd);
            }
        }
    }

private:
    int listener_ = -1, epoll_ = -1;
    std::vector<char> buffer_;
    std::unordered_map<int, std::unique_ptr<Connection>> conns_;

    [[noreturn]] static void fail(const char *what) {
        std::perror(what);
        std::exit(1);
    }

    void bindAndListen(unsigned short port) {
        listener_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        int on = 1;
        setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (listener_ < 0 || bind(listener_, reinterpret_cast<sockaddr *>(&addr), sizeof addr) < 0
            || listen(listener_, SOMAXCONN) < 0)
            fail("listen");
        epoll_ = epoll_create1(EPOLL_CLOEXEC);
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLET;
        ev.data.fd = listener_;
        if (epoll_ < 0 || epoll_ctl(epoll_, EPOLL_CTL_ADD, listener_, &ev) < 0)
            fail("epoll");
    }

    void acceptAll() {
        for (;;) {
            int fd = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK);
            if (fd < 0) {
                if (errno == EINTR || errno == ECONNABORTED)
                    continue;
                return; // EAGAIN: the queue is empty (or EMFILE: wait for the next edge)
            }
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
            ev.data.fd = fd;
            if (epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) < 0) {
                close(fd);
                continue;
            }
            conns_[fd] = std::make_unique<Connection>(fd);
        }
    }

    void handle(int fd) {
        auto it = conns_.find(fd);
        if (it == conns_.end())
            return;
        Connection &c = *it->second;
        if (!readAll(c) || !sendAll(c) || (c.eof && c.pending.empty())) {
            epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
            conns_.erase(it); // the destructor closes the socket
        }
    }

    bool readAll(Connection &c) {
        while (!c.eof) {
            ssize_t n = recv(c.fd, buffer_.data(), buffer_.size(), 0);
            if (n > 0) {
                std::cout << "recv: ";
                std::cout.write(buffer_.data(), n) << std::endl;
                c.pending.append(buffer_.data(), static_cast<size_t>(n));
            } else if (n == 0) {
                c.eof = true;
            } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return true;
            } else if (errno != EINTR) {
                return false;
            }
        }
        return true;
    }

    static bool sendAll(Connection &c) {
        size_t sent = 0;
        while (sent < c.pending.size()) {
            ssize_t n = send(c.fd, c.pending.data() + sent, c.pending.size() - sent, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    break;
                return false;
            }
            sent += static_cast<size_t>(n);
        }
        c.pending.erase(0, sent);
        return true;
    }
};

} // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " PORT\n";
        return 2;
    }
    Server server(static_cast<unsigned short>(std::atoi(argv[1])));
    server.run();
}
