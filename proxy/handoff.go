package proxy

import (
	"net"
	"sync"
	"sync/atomic"
)

// Why an event loop handed a connection to the goroutine engine.
const (
	handoffBody     = iota // the request has a body (or Expect)
	handoffUpgrade         // the request asks for a protocol switch
	handoffUpstream        // the upstream is HTTPS or held by a pause
	handoffResponse        // the response is chunked or close-delimited
	numHandoffs
)

var handoffNames = [numHandoffs]string{"request_body", "upgrade", "upstream", "response_framing"}

// loopCounters count what the event loops serve and hand over.
type loopCounters struct {
	requests atomic.Uint64 // answered in a loop
	handoffs [numHandoffs]atomic.Uint64
}

// prefixConn is a connection whose first bytes were read already (by an
// event loop that handed the connection over): Read returns them first.
// It deliberately offers no SyscallConn, so the goroutine engine keeps a
// read buffer for it rather than reading the socket past the prefix.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite keeps the half-close of tunnels.
func (c *prefixConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// releaseConn calls release once when it is closed: the slot of a
// connection limit taken when the socket was accepted.
type releaseConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *releaseConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

func (c *releaseConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// SocketDetacher is implemented by wrappers of accepted connections (a
// connection limiter) that can give the socket to an event loop: Detach
// returns the wrapped connection and what to call once the socket closes.
type SocketDetacher interface {
	DetachSocket() (net.Conn, func())
}
