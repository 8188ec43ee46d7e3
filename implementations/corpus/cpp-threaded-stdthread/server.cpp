// Thread per connection with std::thread, the seed's C++ style (createBuffer(1024),
// recv(255) into it, banner before each chunk), blocking sockets.
//
// Each accepted socket is moved into a std::thread that is detach()ed at once: nobody
// joins it, and its resources go when the client leaves.  The handler reads 255 bytes at
// a time into a 1024-byte std::unique_ptr<char[]> buffer (no terminator needed: the
// chunk is written with its length), and sends the echo back in a loop, since send(2)
// may take less than asked.  One std::mutex guards stdout, so a banner and its chunk stay
// together.  SIGPIPE is ignored for the whole process: a thread writing to a reset
// client gets EPIPE instead of the process being killed.
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace {

std::mutex out_mutex;

char *createBuffer(int len) {
    char *result = new char[len];
    std::memset(result, 0, len);
    return result;
}

bool sendAll(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = send(fd, data, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        data += n;
        len -= static_cast<size_t>(n);
    }
    return true;
}

void handleFunc(int aSocket) {
    std::unique_ptr<char[]> buffer(createBuffer(1024));
    for (;;) {
        ssize_t ret = recv(aSocket, buffer.get(), 255, 0);
        if (ret < 0 && errno == EINTR)
            continue;
        if (ret <= 0)
            break;
        {
            std::lock_guard<std::mutex> lock(out_mutex);
            std::fputs("******** sys recv() ********\n", stdout);
            std::fwrite(buffer.get(), 1, static_cast<size_t>(ret), stdout);
            std::fputc('\n', stdout);
            std::fflush(stdout);
        }
        if (!sendAll(aSocket, buffer.get(), static_cast<size_t>(ret)))
            break;
    }
    close(aSocket);
}

} // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    std::signal(SIGPIPE, SIG_IGN);
    int server = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    int on = 1;
    setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<unsigned short>(std::atoi(argv[1])));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (server < 0 || bind(server, reinterpret_cast<sockaddr *>(&addr), sizeof addr) < 0
        || listen(server, SOMAXCONN) < 0) {
        std::perror("listen");
        return 1;
    }
    for (;;) {
        int client = accept(server, nullptr, nullptr);
        if (client < 0)
            continue;
        try {
            std::thread(handleFunc, client).detach();
        } catch (const std::system_error &) {
            close(client); // no thread to be had: refuse this client, keep the others
        }
    }
}
