package proxy

import (
	"bufio"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// tcpPair is a connected loopback TCP pair.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Close(); _ = client.Close() })
	return server, client
}

// lazyConn is an owner of a lazyReader, as clientConn and upConn are.
type lazyConn struct {
	c  net.Conn
	br *bufio.Reader
	in lazyReader
}

func (l *lazyConn) Read(p []byte) (int, error) {
	if l.in.fd >= 0 {
		return l.in.readRaw(p)
	}
	return l.c.Read(p)
}

// TestLazyReader checks that a plain socket waits for its next bytes
// holding no buffer and then reads them all, that the wait ends on a
// deadline, on the peer's close, and that a connection that is not a plain
// socket keeps its buffer.
func TestLazyReader(t *testing.T) {
	pool := &sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}
	tests := []struct {
		name    string
		plain   bool
		peer    func(c net.Conn)
		setup   func(c net.Conn)
		wantErr func(error) bool
		want    string
	}{
		{name: "data after the wait began", plain: true, want: "GET / HTTP/1.1\r\n",
			peer: func(c net.Conn) { time.Sleep(50 * time.Millisecond); _, _ = c.Write([]byte("GET / HTTP/1.1\r\n")) }},
		{name: "data already there", plain: true, want: "abc",
			setup: func(c net.Conn) { _, _ = c.Write([]byte("abc")); time.Sleep(20 * time.Millisecond) }},
		{name: "deadline", plain: true,
			wantErr: isTimeout},
		{name: "peer closes", plain: true,
			peer:    func(c net.Conn) { time.Sleep(20 * time.Millisecond); _ = c.Close() },
			wantErr: func(err error) bool { return err == io.EOF }},
		{name: "not plain keeps its buffer", plain: false, want: "xyz",
			peer: func(c net.Conn) { _, _ = c.Write([]byte("xyz")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := tcpPair(t)
			l := &lazyConn{c: s}
			l.in.init(&l.br, pool, l, s, tt.plain)
			if tt.plain != (l.br == nil) {
				t.Fatalf("after init: holds a reader %v, want %v", l.br != nil, !tt.plain)
			}
			if tt.setup != nil {
				tt.setup(c)
			}
			_ = s.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if tt.peer != nil {
				go tt.peer(c)
			}
			err := l.in.wait()
			if tt.wantErr != nil {
				if err == nil || !tt.wantErr(err) {
					t.Fatalf("wait: %v, want the expected error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("wait: %v", err)
			}
			got := make([]byte, len(tt.want))
			if _, err := io.ReadFull(l.br, got); err != nil || string(got) != tt.want {
				t.Fatalf("read %q, %v; want %q", got, err, tt.want)
			}
			l.in.release()
			if tt.plain != (l.br == nil) {
				t.Fatalf("after release: holds a reader %v, want %v", l.br != nil, !tt.plain)
			}
			l.in.drop()
		})
	}
}

// TestLazyReaderKeepsBufferedBytes checks that release keeps a reader that
// holds bytes (a pipelined request).
func TestLazyReaderKeepsBufferedBytes(t *testing.T) {
	pool := &sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}
	s, c := tcpPair(t)
	l := &lazyConn{c: s}
	l.in.init(&l.br, pool, l, s, true)
	_, _ = c.Write([]byte("one\ntwo\n"))
	_ = s.SetReadDeadline(time.Now().Add(time.Second))
	if err := l.in.wait(); err != nil {
		t.Fatal(err)
	}
	line, err := l.br.ReadString('\n')
	for err == nil && l.br.Buffered() < len("two\n") {
		// The second line may arrive in a second segment.
		_, err = l.br.Peek(len("two\n"))
	}
	if line != "one\n" || err != nil {
		t.Fatalf("read %q, %v", line, err)
	}
	l.in.release()
	if l.br == nil || l.in.buffered() != len("two\n") {
		t.Fatalf("release gave back a reader holding %d bytes", l.in.buffered())
	}
	// With bytes buffered, wait returns at once (the deadline is past).
	_ = s.SetReadDeadline(aLongTimeAgo)
	if err := l.in.wait(); err != nil {
		t.Fatalf("wait with bytes buffered: %v", err)
	}
	l.in.drop()
}
