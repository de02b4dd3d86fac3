package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// upConn is a connection to a peer with its buffers.
type upConn struct {
	net.Conn
	br        *bufio.Reader // held only while a response is read (see lazyReader)
	bw        *bufio.Writer // held only while a request is written
	in        lazyReader
	peer      *Peer
	idleSince time.Time
	reused    bool
	verify    bool // look for unexpected bytes before reusing it

	// While set, each read (write) system call first sets a deadline
	// this far ahead: read_timeout between two reads of a response body
	// and two writes of a streamed request body.
	readTO, writeTO time.Duration
}

// upIO is the connection as its bufio reader and writer see it.
type upIO struct{ uc *upConn }

func (x upIO) Read(p []byte) (int, error) {
	if x.uc.in.fd >= 0 {
		return x.uc.in.readRaw(p)
	}
	if d := x.uc.readTO; d > 0 {
		_ = x.uc.Conn.SetReadDeadline(time.Now().Add(d))
	}
	return x.uc.Conn.Read(p)
}

func (x upIO) Write(p []byte) (int, error) {
	if d := x.uc.writeTO; d > 0 {
		_ = x.uc.Conn.SetWriteDeadline(time.Now().Add(d))
	}
	return x.uc.Conn.Write(p)
}

var (
	upReaderPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 16<<10) }}
	upWriterPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 8<<10) }}
)

func newUpConn(c net.Conn, p *Peer) *upConn {
	uc := &upConn{Conn: c, peer: p}
	_, isTLS := c.(*tls.Conn)
	uc.in.init(&uc.br, &upReaderPool, upIO{uc}, c, !isTLS)
	return uc
}

// unreadPrefix reports whether bytes an event loop read before handing the
// connection over are still waiting in front of it.
func (c *upConn) unreadPrefix() bool {
	pc, ok := c.Conn.(*prefixConn)
	return ok && len(pc.prefix) > 0
}

// takeWriter gets the request writer from its pool: a connection holds one
// only while it sends a request, not while it waits for the response or
// sits in the keepalive pool.
func (c *upConn) takeWriter() {
	if c.bw == nil {
		c.bw = upWriterPool.Get().(*bufio.Writer)
		c.bw.Reset(upIO{c})
	}
}

// releaseWriter gives the writer back once the request is sent.
func (c *upConn) releaseWriter() {
	if c.bw != nil && c.bw.Buffered() == 0 {
		c.bw.Reset(nil)
		upWriterPool.Put(c.bw)
		c.bw = nil
	}
}

// close closes the socket and recycles the buffers.
func (c *upConn) close() {
	_ = c.Conn.Close()
	c.in.drop()
	if c.bw != nil {
		c.bw.Reset(nil)
		upWriterPool.Put(c.bw)
		c.bw = nil
	}
}

// idlePool is a LIFO stack of idle keepalive connections: the most recently
// used connection is the least likely to have been closed by the peer.
type idlePool struct {
	mu    sync.Mutex
	conns []*upConn
}

func (ip *idlePool) len() int {
	ip.mu.Lock()
	defer ip.mu.Unlock()
	return len(ip.conns)
}

// get pops the newest idle connection not older than maxIdle.
func (ip *idlePool) get(now time.Time, maxIdle time.Duration) *upConn {
	ip.mu.Lock()
	for n := len(ip.conns); n > 0; n = len(ip.conns) {
		c := ip.conns[n-1]
		ip.conns[n-1] = nil
		ip.conns = ip.conns[:n-1]
		if maxIdle > 0 && now.Sub(c.idleSince) > maxIdle {
			ip.mu.Unlock()
			c.close()
			ip.mu.Lock()
			continue
		}
		ip.mu.Unlock()
		return c
	}
	ip.mu.Unlock()
	return nil
}

// Beyond keepalive, the pool holds a surplus for surplusIdle: under many
// concurrent requests the number of busy upstream connections swings by
// more than keepalive from one moment to the next, and closing every
// connection above it as it comes back would make the next swing dial them
// again (a connect and a close per request at 1,024 client connections).
// The reaper closes a surplus connection once it has been idle this long
// (HAProxy's pool-purge-delay does the same); maxSurplus caps the surplus.
const (
	surplusIdle = time.Second
	maxSurplus  = 1024
)

// put keeps c for reuse, or closes it when the pool holds max plus the
// largest surplus already.
func (ip *idlePool) put(c *upConn, max int, now time.Time) {
	c.idleSince = now
	c.reused = true
	ip.mu.Lock()
	if len(ip.conns) < max+maxSurplus {
		ip.conns = append(ip.conns, c)
		ip.mu.Unlock()
		return
	}
	ip.mu.Unlock()
	c.close()
}

// reapable reports whether the i-th oldest idle connection, idle for idle,
// is past maxIdle or is one of the surplus oldest ones idle for
// surplusIdle (the rule of both engines' pools).
func reapable(i, surplus int, idle, maxIdle time.Duration) bool {
	return idle > maxIdle || (i < surplus && idle >= surplusIdle)
}

// reap closes connections idle longer than maxIdle, and those beyond the
// newest max that have been idle for surplusIdle.
func (ip *idlePool) reap(now time.Time, maxIdle time.Duration, max int) {
	ip.mu.Lock()
	keep := ip.conns[:0]
	var old []*upConn
	surplus := len(ip.conns) - max // the oldest come first (LIFO stack)
	for i, c := range ip.conns {
		if reapable(i, surplus, now.Sub(c.idleSince), maxIdle) {
			old = append(old, c)
		} else {
			keep = append(keep, c)
		}
	}
	for i := len(keep); i < len(ip.conns); i++ {
		ip.conns[i] = nil
	}
	ip.conns = keep
	ip.mu.Unlock()
	for _, c := range old {
		c.close()
	}
}

func (ip *idlePool) closeAll() {
	ip.mu.Lock()
	conns := ip.conns
	ip.conns = nil
	ip.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// adopt moves other's idle connections into ip (used on reload).
func (ip *idlePool) adopt(other *idlePool) {
	other.mu.Lock()
	conns := other.conns
	other.conns = nil
	other.mu.Unlock()
	ip.mu.Lock()
	ip.conns = append(ip.conns, conns...)
	ip.mu.Unlock()
}

// staleCheckAfter is how long a connection may sit idle before it is probed
// for a close from the peer before reuse. Busy connections skip the probe;
// the retry on a stale connection covers the remaining race.
const staleCheckAfter = 200 * time.Millisecond

var aLongTimeAgo = time.Unix(1, 0)

// peerClosed reports whether the peer has closed an idle connection (or
// sent unexpected bytes), with one non-blocking MSG_PEEK on the socket. A
// Go read with a past deadline would not even ask the kernel.
func peerClosed(c *upConn) bool {
	if c.in.buffered() > 0 {
		return true // bytes on an idle connection: protocol error
	}
	nc := c.Conn
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	closed := false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case n > 0:
			closed = true // data (or a TLS close_notify) on an idle connection
		case n == 0 && err == nil:
			closed = true // FIN
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
			closed = false // nothing to read: alive
		default:
			closed = true // RST and friends
		}
		return true // never wait for readability
	})
	return closed || err != nil
}

// acquire returns an idle connection to p, or dials a new one. With probe
// set an idle connection is always checked for a close from the peer (for
// requests that could not be replayed on a stale connection).
func (u *Upstream) acquire(ctx context.Context, p *Peer, now time.Time, fresh, probe bool) (*upConn, error) {
	if !fresh && u.keepalive > 0 {
		for {
			c := p.idle.get(now, u.keepaliveTO)
			if c == nil {
				break
			}
			if (probe || c.verify || now.Sub(c.idleSince) > staleCheckAfter) && peerClosed(c) {
				c.close()
				continue
			}
			return c, nil
		}
	}
	return u.dial(ctx, p)
}

// dialError marks an error that happened before anything reached the peer;
// such attempts are always retried on the next peer.
type dialError struct{ err error }

func (e *dialError) Error() string { return "connect: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

func (u *Upstream) dial(ctx context.Context, p *Peer) (*upConn, error) {
	c, err := u.dialer.DialContext(ctx, "tcp", p.Addr)
	if err != nil {
		return nil, &dialError{err}
	}
	if u.tlsConfig != nil {
		if c, err = u.clientTLS(ctx, c, p, u.tlsConfig); err != nil {
			return nil, err
		}
	}
	return newUpConn(c, p), nil
}

// clientTLS runs the TLS handshake with an https upstream within
// connect_timeout; the server name defaults to the address host.
func (u *Upstream) clientTLS(ctx context.Context, c net.Conn, p *Peer, tc *tls.Config) (net.Conn, error) {
	if tc.ServerName == "" {
		tc = tc.Clone()
		tc.ServerName, _, _ = net.SplitHostPort(p.Addr)
	}
	tlsConn := tls.Client(c, tc)
	hctx, cancel := context.WithTimeout(ctx, u.connectTO)
	err := tlsConn.HandshakeContext(hctx)
	cancel()
	if err != nil {
		_ = c.Close()
		return nil, &dialError{err}
	}
	return tlsConn, nil
}

// isTimeout reports whether err is a deadline or timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// isConnClosed reports whether err means the peer closed or reset the
// connection (the stale keepalive case when it happens on a reused one).
func isConnClosed(err error) bool {
	return errors.Is(err, errUpstreamEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

var errUpstreamEOF = errors.New("upstream closed the connection before responding")
