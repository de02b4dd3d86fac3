package agent

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// connLimiter enforces limits.max_conns and limits.max_conns_per_ip over
// every listener (HTTP, HTTPS and streams). At the global cap the accept
// loops wait: new clients queue in the kernel's listen backlog and then
// see their SYNs dropped, as with nginx out of worker_connections, instead
// of the agent running out of memory or file descriptors. A client over
// its per-address cap is turned away at once: 503 on plain HTTP, a close
// on TLS and streams (nginx's limit_conn answers 503 too).
type connLimiter struct {
	mu       sync.Mutex
	max      int
	perIP    int
	total    int
	byIP     map[netip.Addr]int
	freed    chan struct{} // closed (and replaced) when a slot frees
	refused  atomic.Uint64 // connections turned away by the per-IP cap
	rejectIn atomic.Int64  // 503 answers being written
}

func newConnLimiter(max, perIP int) *connLimiter {
	return &connLimiter{max: max, perIP: perIP, byIP: map[netip.Addr]int{}, freed: make(chan struct{})}
}

// set changes the caps (reload); waiting accept loops re-check.
func (l *connLimiter) set(max, perIP int) {
	l.mu.Lock()
	l.max, l.perIP = max, perIP
	l.wakeLocked()
	l.mu.Unlock()
}

func (l *connLimiter) wakeLocked() {
	close(l.freed)
	l.freed = make(chan struct{})
}

// waitSlot waits while the global cap is reached; it returns false when
// done closes first. The slot is taken by admit after the accept, so with
// several listeners the count may pass the cap by one per listener.
func (l *connLimiter) waitSlot(done <-chan struct{}) bool {
	l.mu.Lock()
	for l.max > 0 && l.total >= l.max {
		ch := l.freed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-done:
			return false
		}
		l.mu.Lock()
	}
	l.mu.Unlock()
	return true
}

// admit counts a connection from ip, unless ip is at its per-address cap.
func (l *connLimiter) admit(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perIP > 0 && l.byIP[ip] >= l.perIP {
		return false
	}
	l.byIP[ip]++
	l.total++
	return true
}

// release ends a connection admitted from ip.
func (l *connLimiter) release(ip netip.Addr) {
	l.mu.Lock()
	if n := l.byIP[ip]; n <= 1 {
		delete(l.byIP, ip)
	} else {
		l.byIP[ip] = n - 1
	}
	l.total--
	l.wakeLocked()
	l.mu.Unlock()
}

// open is the number of connections counted now.
func (l *connLimiter) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// Listener kinds: what a refused client is told.
const (
	kindHTTP = iota
	kindTLS
	kindStream
)

// limitListener applies a connLimiter to a listener. It keeps File (the
// upgrade hands the socket on) and its Close ends a wait for a slot.
type limitListener struct {
	net.Listener
	lim  *connLimiter
	kind int
	done chan struct{}
	once sync.Once
}

func (l *connLimiter) wrap(ln net.Listener, kind int) *limitListener {
	return &limitListener{Listener: ln, lim: l, kind: kind, done: make(chan struct{})}
}

func (ll *limitListener) Accept() (net.Conn, error) {
	for {
		if !ll.lim.waitSlot(ll.done) {
			return nil, net.ErrClosed
		}
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := peerAddr(c)
		if !ll.lim.admit(ip) {
			ll.lim.refused.Add(1)
			ll.refuse(c)
			continue
		}
		return &limitedConn{Conn: c, lim: ll.lim, ip: ip}, nil
	}
}

func (ll *limitListener) Close() error {
	ll.once.Do(func() { close(ll.done) })
	return ll.Listener.Close()
}

// File duplicates the listening socket (for the zero-downtime upgrade).
func (ll *limitListener) File() (*os.File, error) { return socketFile(ll.Listener) }

// maxRefusing bounds the 503 answers written at once; beyond it refused
// clients are closed without one.
const maxRefusing = 256

// refuse turns a client away: a 503 on plain HTTP (written in the
// background, bounded in time and number), a close otherwise.
func (ll *limitListener) refuse(c net.Conn) {
	if ll.kind != kindHTTP || ll.lim.rejectIn.Add(1) > maxRefusing {
		if ll.kind == kindHTTP {
			ll.lim.rejectIn.Add(-1)
		}
		_ = c.Close()
		return
	}
	go func() {
		defer ll.lim.rejectIn.Add(-1)
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		const body = `{"error":"too many connections from this address","status":503}` + "\n"
		_, err := io.WriteString(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: "+itoa(len(body))+"\r\n\r\n"+body)
		if err != nil {
			return
		}
		// Let the answer arrive before the close: unread request bytes
		// would make the kernel reset the connection over it.
		if tc, ok := c.(interface{ CloseWrite() error }); ok {
			_ = tc.CloseWrite()
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
	}()
}

// limitedConn gives its slot back when closed (once).
type limitedConn struct {
	net.Conn
	lim    *connLimiter
	ip     netip.Addr
	closed atomic.Bool
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.lim.release(c.ip)
	}
	return err
}

// DetachSocket gives the socket to the proxy's event loop, which calls
// the returned function when it closes the socket: the slot is held until
// then.
func (c *limitedConn) DetachSocket() (net.Conn, func()) {
	return c.Conn, func() {
		if c.closed.CompareAndSwap(false, true) {
			c.lim.release(c.ip)
		}
	}
}

// SyscallConn is the socket's: limitedConn buffers nothing, so the proxy
// may wait for a request on the socket itself holding no read buffer.
func (c *limitedConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

// CloseWrite, ReadFrom and WriteTo keep the TCP fast paths (half-close,
// splice) for streams and tunnels.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *limitedConn) ReadFrom(r io.Reader) (int64, error) {
	if lc, ok := r.(*limitedConn); ok {
		r = lc.Conn // TCP to TCP: the kernel splices
	}
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(c.Conn, r)
}

func (c *limitedConn) WriteTo(w io.Writer) (int64, error) {
	if lc, ok := w.(*limitedConn); ok {
		w = lc.Conn
	}
	if wt, ok := c.Conn.(io.WriterTo); ok {
		return wt.WriteTo(w)
	}
	return io.Copy(w, c.Conn)
}

func peerAddr(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for ; n > 0; n /= 10 {
		i--
		b[i] = byte('0' + n%10)
	}
	return string(b[i:])
}
