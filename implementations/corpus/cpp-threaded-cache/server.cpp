// Thread per connection with a thread cache, the shape of Java's
// Executors.newCachedThreadPool() and of most thread-per-request servers: a connection
// is handed to an idle thread if there is one, else to a new thread; a thread that
// finishes its connection waits up to IDLE_SECONDS for the next one, then exits.
//
// Every connection still has a thread of its own for as long as it lasts (blocking
// recv()/send() on it), so ten concurrent clients run on ten threads.  What changes is
// that threads outlive their first client: after a burst, idle threads stay cached for a
// while instead of being created again for the next burst.  They are bounded by the peak
// number of concurrent clients and all gone after IDLE_SECONDS of quiet -- which is not a
// leak (a leak grows with the number of clients served, not with their peak concurrency).
//
// Output: "conn N: " + chunk + "\n" under a mutex; SIGPIPE ignored; backlog SOMAXCONN.
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace {

constexpr auto IDLE_SECONDS = std::chrono::seconds(60);

std::mutex out_mutex;
std::mutex pool_mutex;
std::condition_variable work_ready;
std::deque<int> handoff; // accepted sockets waiting for an idle thread
int idle_threads = 0;
unsigned long next_conn = 0;

void serve(int fd, unsigned long id) {
    char buf[2048];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        {
            std::lock_guard<std::mutex> lock(out_mutex);
            std::printf("conn %lu: ", id);
            std::fwrite(buf, 1, static_cast<size_t>(n), stdout);
            std::fputc('\n', stdout);
            std::fflush(stdout);
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = send(fd, buf + off, static_cast<size_t>(n - off), 0);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                goto done;
            off += w;
        }
    }
done:
    close(fd);
}

void worker(int fd, unsigned long id) {
    for (;;) {
        serve(fd, id);
        std::unique_lock<std::mutex> lock(pool_mutex);
        ++idle_threads;
        bool got = work_ready.wait_for(lock, IDLE_SECONDS, [] { return !handoff.empty(); });
        --idle_threads;
        if (!got)
            return; // idle too long: this thread ends
        fd = handoff.front();
        handoff.pop_front();
        id = ++next_conn;
    }
}

void dispatch(int fd) {
    std::unique_lock<std::mutex> lock(pool_mutex);
    if (idle_threads > static_cast<int>(handoff.size())) {
        handoff.push_back(fd); // an idle thread takes it
        work_ready.notify_one();
        return;
    }
    unsigned long id = ++next_conn;
    lock.unlock();
    try {
        std::thread(worker, fd, id).detach();
    } catch (const std::system_error &) {
        close(fd); // no thread to be had: refuse this client, keep the others
    }
}

} // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    std::signal(SIGPIPE, SIG_IGN);
    int server = socket(AF_INET, SOCK_STREAM, 0);
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
        int fd = accept(server, nullptr, nullptr);
        if (fd >= 0)
            dispatch(fd);
    }
}
