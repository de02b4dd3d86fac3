package proxy

import (
	"io"
	"net"
	"sync"
	"time"
)

// tunnel is an upgraded connection (WebSocket or any protocol switched to
// with 101) relayed byte for byte in both directions.
type tunnel struct {
	client, upstream net.Conn
}

// runTunnel relays the 101 response and then both byte streams until both
// directions end. It blocks; both connections are closed when it returns.
func (cc *clientConn) runTunnel(uc *upConn) {
	resp := &cc.resp
	b := appendStatusLine(cc.out[:0], 101, resp.reason)
	for _, f := range resp.headers {
		if resp.hopByHop(f.key) {
			continue
		}
		b = append(b, f.key...)
		b = append(b, ": "...)
		b = append(b, f.value...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "Connection: Upgrade\r\nUpgrade: "...)
	b = append(b, resp.upgrade...)
	b = append(b, "\r\n\r\n"...)
	cc.out = b
	_, _ = cc.bw.Write(b)
	// Bytes the upstream sent right after its 101 ride along.
	if n := uc.br.Buffered(); n > 0 {
		extra, _ := uc.br.Peek(n)
		_, _ = cc.bw.Write(extra)
	}
	if err := cc.bw.Flush(); err != nil {
		uc.close()
		return
	}
	// Bytes the client sent right after its request go upstream first.
	if n := cc.br.Buffered(); n > 0 {
		extra, _ := cc.br.Peek(n)
		if _, err := uc.Conn.Write(extra); err != nil {
			uc.close()
			return
		}
		_, _ = cc.br.Discard(n)
	}
	_ = cc.c.SetReadDeadline(time.Time{})
	t := &tunnel{client: cc.c, upstream: uc.Conn}
	h := cc.h
	h.mu.Lock()
	h.tunnels[t] = struct{}{}
	h.mu.Unlock()
	t.run()
	h.mu.Lock()
	delete(h.tunnels, t)
	h.mu.Unlock()
	uc.close()
}

func (t *tunnel) run() {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pipe(t.upstream, t.client) }()
	pipe(t.client, t.upstream)
	wg.Done()
	wg.Wait()
	_ = t.client.Close()
	_ = t.upstream.Close()
}

// pipe copies src to dst and then half-closes dst, so the other side sees
// the end of this direction while the opposite one can still flow.
func pipe(dst, src net.Conn) {
	_, err := io.Copy(dst, src)
	if cw, ok := dst.(interface{ CloseWrite() error }); ok && err == nil {
		_ = cw.CloseWrite()
		return
	}
	// An error on one side ends both directions.
	_ = dst.Close()
	_ = src.Close()
}

// Close ends the tunnel at once.
func (t *tunnel) Close() {
	_ = t.client.Close()
	_ = t.upstream.Close()
}
