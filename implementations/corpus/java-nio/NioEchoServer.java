// Shape: the Java NIO echo server of countless tutorials: a ServerSocketChannel and
// non-blocking SocketChannels registered with one Selector, a select() loop over
// selectedKeys(), a ByteBuffer per client attached to its key.  Echo and print.
//
// Model: epoll-lt.  On Linux the default SelectorProvider is EPollSelectorImpl, which
// registers channels with epoll_ctl without EPOLLET: level-triggered, so each turn
// reads one buffer and a client with more to send is simply selected again.
//
// Backpressure: when the echo does not fit the socket, the key's interest switches
// from OP_READ to OP_WRITE, so the server stops reading that client until its echo is
// out (one buffer per client, memory bounded).  System.out autoflushes each write.
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.Iterator;

public class NioEchoServer {
    public static void main(String[] args) throws IOException {
        int port = Integer.parseInt(args[0]);
        Selector selector = Selector.open();
        ServerSocketChannel server = ServerSocketChannel.open();
        server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 128);
        server.configureBlocking(false);
        server.register(selector, SelectionKey.OP_ACCEPT);
        while (true) {
            selector.select();
            Iterator<SelectionKey> keys = selector.selectedKeys().iterator();
            while (keys.hasNext()) {
                SelectionKey key = keys.next();
                keys.remove();
                try {
                    if (key.isAcceptable()) {
                        accept(server, selector);
                    } else if (key.isReadable()) {
                        read(key);
                    } else if (key.isWritable()) {
                        write(key);
                    }
                } catch (IOException e) {
                    key.channel().close(); // a reset client; closing also cancels its key
                }
            }
        }
    }

    static void accept(ServerSocketChannel server, Selector selector) throws IOException {
        SocketChannel client = server.accept();
        if (client == null) {
            return; // the client gave up before we got to it
        }
        client.configureBlocking(false);
        client.register(selector, SelectionKey.OP_READ, ByteBuffer.allocate(4096));
    }

    static void read(SelectionKey key) throws IOException {
        SocketChannel client = (SocketChannel) key.channel();
        ByteBuffer buf = (ByteBuffer) key.attachment();
        int n = client.read(buf);
        if (n == -1) {
            client.close();
            return;
        }
        buf.flip();
        System.out.write(buf.array(), 0, buf.limit());
        write(key);
    }

    static void write(SelectionKey key) throws IOException {
        SocketChannel client = (SocketChannel) key.channel();
        ByteBuffer buf = (ByteBuffer) key.attachment();
        client.write(buf);
        if (buf.hasRemaining()) {
            key.interestOps(SelectionKey.OP_WRITE); // stop reading until the echo is out
        } else {
            buf.clear();
            key.interestOps(SelectionKey.OP_READ);
        }
    }
}
