// Shape: the classic Java echo server of the Java networking tutorial ("Writing the
// Server Side of a Socket", KnockKnockServer / EchoServer) made multi-client the
// way the tutorial's KKMultiServer does it: a ServerSocket, accept() in a loop, a new
// Thread per client copying its InputStream to its OutputStream, and each chunk
// printed to System.out.
//
// Model: threaded.  java.net sockets are blocking (NioSocketImpl puts a socket in
// non-blocking mode only for a timed read or a virtual thread, neither used here);
// each client has a platform thread parked in read(2) or write(2).
//
// System.out is a PrintStream with autoflush: write(byte[], int, int) flushes, and it
// is synchronized, so two clients' chunks never interleave.  try-with-resources
// closes the socket when the client leaves, by EOF or by reset.  On SIGTERM or SIGINT
// the JVM runs its shutdown and exits; the kernel closes the client sockets.
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;

public class EchoServer {
    static void serve(Socket client) {
        try (Socket s = client;
             InputStream in = s.getInputStream();
             OutputStream out = s.getOutputStream()) {
            byte[] buf = new byte[4096];
            int n;
            while ((n = in.read(buf)) != -1) {
                System.out.write(buf, 0, n);
                out.write(buf, 0, n);
            }
        } catch (IOException e) {
            // a reset client: its thread ends, the others carry on
        }
    }

    public static void main(String[] args) throws IOException {
        int port = Integer.parseInt(args[0]);
        try (ServerSocket server = new ServerSocket(port, 128, InetAddress.getLoopbackAddress())) {
            while (true) {
                Socket client = server.accept();
                new Thread(() -> serve(client)).start();
            }
        }
    }
}
