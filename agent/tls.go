package agent

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
)

var (
	tlsConfigOnce sync.Once
	tlsConfigVal  *tls.Config
)

// serveTLS completes the handshake and serves HTTP/2 or HTTP/1.1 as
// negotiated through ALPN. A listener without certificates yet still
// accepts; its handshakes fail with the store's explanation (logged by the
// store at most every 30 s) until certificates appear.
func (a *Agent) serveTLS(c net.Conn) {
	tlsConfigOnce.Do(func() { tlsConfigVal = a.certs.TLSConfig() })
	tc := tls.Server(c, tlsConfigVal)
	// A handshake gets header_timeout, as nginx gives it
	// client_header_timeout.
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Load().Limits.HeaderTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		_ = c.Close()
		return
	}
	if tc.ConnectionState().NegotiatedProtocol == "h2" {
		a.serveH2(tc)
		return
	}
	a.handler.ServeConn(tc, true)
}
