package proxy

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// tunnel is an upgraded connection (WebSocket or any protocol switched to
// with 101) relayed byte for byte in both directions.
type tunnel struct {
	client, upstream net.Conn
	ws               bool          // Upgrade: websocket
	goingAway        atomic.Bool   // the agent is draining it
	upDone           chan struct{} // the upstream→client direction ended
}

// runTunnel relays the 101 response and then both byte streams until both
// directions end. It blocks; both connections are closed when it returns.
func (cc *clientConn) runTunnel(uc *upConn) {
	resp := &cc.resp
	b := appendStatusLine(cc.out[:0], 101, resp.reason)
	b = resp.appendEndToEnd(b)
	b = append(b, "Connection: Upgrade\r\nUpgrade: "...)
	b = append(b, resp.upgrade...)
	b = append(b, "\r\n\r\n"...)
	cc.out = b
	cc.ensureWriter()
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
	if n := cc.in.buffered(); n > 0 {
		extra, _ := cc.br.Peek(n)
		if _, err := uc.Conn.Write(extra); err != nil {
			uc.close()
			return
		}
		_, _ = cc.br.Discard(n)
	}
	_ = cc.c.SetReadDeadline(time.Time{})
	t := &tunnel{client: cc.c, upstream: uc.Conn, ws: asciiEqualFold(resp.upgrade, "websocket"), upDone: make(chan struct{})}
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
	wg.Add(1)
	go func() { defer wg.Done(); t.pipe(t.upstream, t.client) }()
	t.pipe(t.client, t.upstream)
	close(t.upDone)
	wg.Wait()
	_ = t.client.Close()
	_ = t.upstream.Close()
}

// pipe copies src to dst and then half-closes dst, so the other side sees
// the end of this direction while the opposite one can still flow. An
// error on one side ends both directions.
func (t *tunnel) pipe(dst, src net.Conn) {
	_, err := io.Copy(dst, src)
	if t.goingAway.Load() {
		return // goAway finishes the connection
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok && err == nil {
		_ = cw.CloseWrite()
		return
	}
	_ = dst.Close()
	_ = src.Close()
}

// closeFrame1001 is a WebSocket close frame, status 1001 "going away",
// unmasked as a server sends it.
var closeFrame1001 = []byte{0x88, 0x02, 0x03, 0xE9}

// goAway ends the tunnel for a drain: the upstream side is closed, and a
// WebSocket client then receives a close frame 1001 and a second to answer
// it before the connection closes.
func (t *tunnel) goAway() {
	t.goingAway.Store(true)
	_ = t.upstream.Close()
	select {
	case <-t.upDone:
	case <-time.After(time.Second):
	}
	if t.ws {
		_ = t.client.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = t.client.Write(closeFrame1001)
	}
	_ = t.client.SetReadDeadline(time.Now().Add(time.Second))
	time.AfterFunc(time.Second, func() { _ = t.client.Close() })
}

// CloseTunnels ends every upgraded connection (WebSockets get a close frame
// 1001) and waits up to two seconds for them to go.
func (h *Handler) CloseTunnels() {
	h.mu.Lock()
	ts := make([]*tunnel, 0, len(h.tunnels))
	for t := range h.tunnels {
		ts = append(ts, t)
	}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, t := range ts {
		wg.Add(1)
		go func() { defer wg.Done(); t.goAway() }()
	}
	wg.Wait()
}
