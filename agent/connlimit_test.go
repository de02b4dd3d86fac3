package agent

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func limitedListener(t *testing.T, max, perIP, kind int) (*connLimiter, *limitListener, chan net.Conn) {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := newConnLimiter(max, perIP)
	ll := lim.wrap(raw, kind)
	t.Cleanup(func() { _ = ll.Close() })
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ll.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	return lim, ll, accepted
}

func TestMaxConnsWaits(t *testing.T) {
	lim, ll, accepted := limitedListener(t, 2, 0, kindHTTP)
	var clients []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", ll.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	first := <-accepted
	<-accepted
	select {
	case <-accepted:
		t.Fatal("a third connection was accepted with max_conns 2")
	case <-time.After(200 * time.Millisecond):
	}
	if n := lim.open(); n != 2 {
		t.Errorf("%d connections counted, want 2", n)
	}
	_ = first.Close()
	select {
	case c := <-accepted:
		_ = c.Close()
	case <-time.After(2 * time.Second):
		t.Fatal("the waiting connection was not accepted once a slot freed")
	}
	// Closing twice gives the slot back once.
	_ = first.Close()
	if n := lim.open(); n != 1 {
		t.Errorf("%d connections counted after closes, want 1", n)
	}
	// A reload that raises the cap lets waiting accepts through.
	lim.set(10, 0)
	_ = clients
}

func TestMaxConnsPerIP(t *testing.T) {
	lim, ll, accepted := limitedListener(t, 100, 1, kindHTTP)
	a, err := net.Dial("tcp", ll.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	<-accepted
	b, err := net.Dial("tcp", ll.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, _ = io.WriteString(b, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	_ = b.SetReadDeadline(time.Now().Add(3 * time.Second))
	got, _ := io.ReadAll(b)
	if !strings.HasPrefix(string(got), "HTTP/1.1 503 ") || !strings.Contains(string(got), "too many connections") {
		t.Errorf("second connection from one address got %q, want 503", got)
	}
	if lim.refused.Load() != 1 || lim.open() != 1 {
		t.Errorf("refused %d, open %d; want 1 and 1", lim.refused.Load(), lim.open())
	}
}

func TestLimitListenerCloseEndsTheWait(t *testing.T) {
	_, ll, accepted := limitedListener(t, 1, 0, kindStream)
	c, err := net.Dial("tcp", ll.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	<-accepted // the only slot is taken: Accept now waits
	_ = ll.Close()
	select {
	case _, ok := <-accepted:
		if ok {
			t.Fatal("accepted after Close")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Accept still waiting for a slot after the listener closed")
	}
}
