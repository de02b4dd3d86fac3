package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// StreamProxy relays TCP connections (agent.yaml streams:) to the peers of
// an Upstream, byte for byte, with the same selection, failover and passive
// health as HTTP requests. A connection is bound to one peer for its whole
// life; a failed connect is retried on the next peer up to the upstream's
// tries. Health for an upstream used by a stream should be a TCP connect
// check (Upstream.UseTCPHealthCheck).
type StreamProxy struct {
	up    atomic.Pointer[Upstream]
	log   *slog.Logger
	count atomic.Int64

	// ctx is cancelled when Drain gives up waiting; it aborts connects.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	conns   map[*streamConn]struct{}
	closed  bool          // Drain closed the remaining connections
	drained chan struct{} // closed when conns empties while Drain waits
}

// streamConn is one proxied connection; upstream is nil while connecting.
type streamConn struct {
	client, upstream net.Conn
}

// NewStreamProxy returns a StreamProxy to u. A nil log discards messages.
func NewStreamProxy(u *Upstream, log *slog.Logger) *StreamProxy {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &StreamProxy{log: log, conns: map[*streamConn]struct{}{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.up.Store(u)
	return s
}

// SetUpstream swaps the upstream for new connections (hot reload).
// Connections already proxied keep their peer.
func (s *StreamProxy) SetUpstream(u *Upstream) { s.up.Store(u) }

// Conns is the number of client connections being proxied, including those
// still connecting to a peer.
func (s *StreamProxy) Conns() int64 { return s.count.Load() }

// Serve accepts connections on ln and proxies each in its own goroutine. It
// returns nil once ln is closed, or the first accept error that is not
// temporary. Temporary errors (out of file descriptors) are retried with a
// backoff of up to one second.
func (s *StreamProxy) Serve(ln net.Listener) error {
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			if !temporaryAccept(err) {
				return err
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("stream accept", "listen", ln.Addr().String(), "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		go s.handle(c)
	}
}

func temporaryAccept(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) ||
		errors.Is(err, syscall.ECONNABORTED) || isTimeout(err)
}

// Drain waits until every proxied connection has ended or ctx is done; then
// it closes the connections left (and aborts connects in progress), waits
// for their goroutines and returns ctx's error. Close the listener first:
// Drain does not stop Serve.
func (s *StreamProxy) Drain(ctx context.Context) error {
	s.mu.Lock()
	if len(s.conns) == 0 {
		s.mu.Unlock()
		return nil
	}
	if s.drained == nil {
		s.drained = make(chan struct{})
	}
	drained := s.drained
	s.mu.Unlock()
	select {
	case <-drained:
		return nil
	case <-ctx.Done():
	}
	s.cancel()
	s.mu.Lock()
	s.closed = true
	for sc := range s.conns {
		sc.close()
	}
	s.mu.Unlock()
	<-drained
	return ctx.Err()
}

func (sc *streamConn) close() {
	_ = sc.client.Close()
	if sc.upstream != nil {
		_ = sc.upstream.Close()
	}
}

// track registers sc; it fails once Drain has closed the connections.
func (s *StreamProxy) track(sc *streamConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[sc] = struct{}{}
	s.count.Add(1)
	return true
}

func (s *StreamProxy) untrack(sc *streamConn) {
	s.mu.Lock()
	delete(s.conns, sc)
	s.count.Add(-1)
	if len(s.conns) == 0 && s.drained != nil {
		close(s.drained)
		s.drained = nil
	}
	s.mu.Unlock()
}

// attach records the upstream side of sc; it fails once Drain has closed
// the connections.
func (s *StreamProxy) attach(sc *streamConn, uc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc.upstream = uc
	return !s.closed
}

// handle proxies one client connection to the end.
func (s *StreamProxy) handle(c net.Conn) {
	sc := &streamConn{client: c}
	if !s.track(sc) {
		_ = c.Close()
		return
	}
	defer s.untrack(sc)
	u := s.up.Load()
	uc, p, err := s.connect(u)
	if err != nil {
		_ = c.Close()
		if s.ctx.Err() == nil {
			s.log.Warn("stream: no upstream server connected", "upstream", u.Name,
				"client", c.RemoteAddr().String(), "err", err)
		}
		return
	}
	if !s.attach(sc, uc) {
		sc.close()
		return
	}
	p.requests.Add(1)
	p.inflight.Add(1)
	relayStream(c, uc)
	p.inflight.Add(-1)
}

// relayStream copies both directions until both have ended, then closes
// both connections. io.Copy between two TCP sockets splices on Linux.
func relayStream(client, upstream net.Conn) {
	done := make(chan struct{})
	go func() { pipeStream(upstream, client); close(done) }()
	pipeStream(client, upstream)
	<-done
	_ = client.Close()
	_ = upstream.Close()
}

// pipeStream copies src to dst. A clean end half-closes dst, so its reader
// sees EOF while the opposite direction keeps flowing; an error on either
// side closes both, which ends the other direction too.
func pipeStream(dst, src net.Conn) {
	_, err := io.Copy(dst, src)
	if cw, ok := dst.(interface{ CloseWrite() error }); ok && err == nil && cw.CloseWrite() == nil {
		return
	}
	_ = dst.Close()
	_ = src.Close()
}

var errNoLivePeer = errors.New("no live upstream server")

// connect picks and dials peers until one accepts or tries run out. A
// failed connect counts as a passive failure of that peer.
func (s *StreamProxy) connect(u *Upstream) (net.Conn, *Peer, error) {
	now := time.Now()
	var tried uint64
	var cand [64]int
	err := errNoLivePeer
	for n := 0; n < u.tries; n++ {
		i := u.pick(now, tried, &cand)
		if i < 0 {
			break
		}
		tried |= 1 << uint(i)
		if n > 0 {
			u.failovers.Add(1)
		}
		p := u.peers[i]
		c, derr := u.dialStream(s.ctx, p)
		now = time.Now()
		if derr == nil {
			return c, p, nil
		}
		if s.ctx.Err() != nil {
			return nil, nil, derr // drain gave up: not the peer's fault
		}
		p.passiveFail(now, derr)
		err = derr
	}
	return nil, nil, err
}

// dialStream opens a raw connection to p within connect_timeout: TCP, or
// TLS for an https upstream (without the HTTP ALPN the pool advertises).
// The connect time feeds the fastest policy.
func (u *Upstream) dialStream(ctx context.Context, p *Peer) (net.Conn, error) {
	start := time.Now()
	c, err := u.dialer.DialContext(ctx, "tcp", p.Addr)
	if err != nil {
		return nil, &dialError{err}
	}
	if u.tlsConfig != nil {
		tc := u.tlsConfig.Clone()
		tc.NextProtos = nil // not HTTP
		if c, err = u.clientTLS(ctx, c, p, tc); err != nil {
			return nil, err
		}
	}
	p.observe(time.Since(start))
	return c, nil
}
