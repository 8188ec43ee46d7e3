// A poll() print server over a std::vector<pollfd>, with a listen backlog of 5.
//
// poll() is level-triggered (poll(2)): a socket that still has bytes is reported by the
// next call, so one recv() (4096 bytes) per report is enough.  The vector is rebuilt in
// place: new clients are push_back()ed after the pass (never while iterating), and a
// closed one is erased with the erase-remove idiom at the end of the pass.  A backlog
// of 5 is legal: connections past it are retried by the clients' TCP (listen(2)).
// Output: "<fd>| " + chunk + "\n", one fwrite() each, flushed.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    int on = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<unsigned short>(std::atoi(argv[1])));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (listener < 0 || bind(listener, reinterpret_cast<sockaddr *>(&addr), sizeof addr) < 0
        || listen(listener, 5) < 0) {
        std::perror("listen");
        return 1;
    }
    fcntl(listener, F_SETFL, O_NONBLOCK);

    std::vector<pollfd> fds{{listener, POLLIN, 0}};
    std::vector<char> buf(4096);
    for (;;) {
        if (poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR)
                continue;
            std::perror("poll");
            return 1;
        }
        std::vector<int> fresh;
        for (pollfd &p : fds) {
            if (p.revents == 0)
                continue;
            if (p.fd == listener) {
                int c;
                while ((c = accept(listener, nullptr, nullptr)) >= 0 || errno == ECONNABORTED
                       || errno == EINTR)
                    if (c >= 0)
                        fresh.push_back(c);
                continue;
            }
            ssize_t n = recv(p.fd, buf.data(), buf.size(), 0);
            if (n > 0) {
                std::printf("%d| ", p.fd);
                std::fwrite(buf.data(), 1, static_cast<size_t>(n), stdout);
                std::fputc('\n', stdout);
                std::fflush(stdout);
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                close(p.fd);
                p.fd = -1; // erased below
            }
        }
        fds.erase(std::remove_if(fds.begin(), fds.end(), [](const pollfd &p) { return p.fd < 0; }),
                  fds.end());
        for (int c : fresh)
            fds.push_back({c, POLLIN, 0});
    }
}
