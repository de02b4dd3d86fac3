package agent

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/http2"

	"github.com/edgectl/edgectl/agentconfig"
)

// HTTP/2 clients (ALPN "h2") are served by golang.org/x/net/http2, and each
// request is bridged into the same HTTP/1.1 engine through an in-memory
// pipe, so routing, failover, retries, health, limits and logging are the
// same for every client. WebSockets use HTTP/1.1 (browsers do).

//lint:file-ignore SA1019 x/net/http2's ServeConn is the API for serving a connection whose ALPN the agent negotiated itself; net/http offers no per-connection equivalent.

// h2Limits are the limits: settings an HTTP/2 server is built with.
type h2Limits struct {
	maxStreams int
	idle, send time.Duration
}

// h2Server is one HTTP/2 server for every h2 connection with the same
// limits, tied to a base http.Server whose Shutdown sends GOAWAY to all of
// them on drain.
type h2Server struct {
	limits h2Limits
	base   *http.Server
	h2     *http2.Server
}

// h2Servers holds the server for new connections and every server that
// still has connections (a reload that changes limits: builds a new one).
type h2Servers struct {
	mu  sync.Mutex
	cur *h2Server
	all []*h2Server
}

// maxH2HeaderBytes bounds a request's header list, like the HTTP/1.1
// engine's head limit.
const maxH2HeaderBytes = 64 << 10

// h2 returns the server for cfg's limits, building it on first use or
// when a reload changed them.
func (a *Agent) h2(cfg *agentconfig.Config) *h2Server {
	l := cfg.Limits
	want := h2Limits{maxStreams: l.H2MaxStreams, idle: l.IdleTimeout, send: l.SendTimeout}
	a.h2s.mu.Lock()
	defer a.h2s.mu.Unlock()
	if s := a.h2s.cur; s != nil && s.limits == want {
		return s
	}
	s := &h2Server{limits: want}
	// Idle h2 connections close like HTTP/1.1 keepalive ones (nginx's
	// keepalive_timeout covers both); a client that reads nothing is cut
	// off after send_timeout; a connection holds at most h2_max_streams
	// requests, and so at most as many upstream connections.
	s.base = &http.Server{IdleTimeout: l.IdleTimeout, MaxHeaderBytes: maxH2HeaderBytes}
	s.h2 = &http2.Server{
		IdleTimeout:          l.IdleTimeout,
		MaxConcurrentStreams: uint32(l.H2MaxStreams),
		MaxReadFrameSize:     h2MaxFrame,
		WriteByteTimeout:     l.SendTimeout,
	}
	_ = http2.ConfigureServer(s.base, s.h2)
	a.h2s.cur = s
	a.h2s.all = append(a.h2s.all, s)
	return s
}

func (a *Agent) serveH2(tc *tls.Conn) {
	remote := remoteHost(tc.RemoteAddr())
	s := a.h2(a.cfg.Load())
	s.h2.ServeConn(newH2Guard(tc, maxH2HeaderBytes), &http2.ServeConnOpts{BaseConfig: s.base, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.bridgeH2(w, r, remote)
	})})
}

// goAwayH2 tells every HTTP/2 client to finish its streams and reconnect
// elsewhere (GOAWAY); streams in flight complete.
func (a *Agent) goAwayH2(ctx context.Context) {
	a.h2s.mu.Lock()
	all := append([]*h2Server(nil), a.h2s.all...)
	a.h2s.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range all {
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.base.Shutdown(ctx) }()
	}
	wg.Wait()
}

func remoteHost(addr net.Addr) string {
	if ta, ok := addr.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap().String()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

// hopHeaders are not copied from the engine's HTTP/1.1 response to h2.
var hopHeaders = []string{"Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "Proxy-Connection"}

func (a *Agent) bridgeH2(w http.ResponseWriter, r *http.Request, remote string) {
	client, server := net.Pipe()
	go a.handler.ServeConnFrom(server, true, remote)
	defer client.Close()
	// A stream the client resets (or a connection that goes away) ends
	// the bridged request at once, and with it its upstream connection.
	stop := context.AfterFunc(r.Context(), func() { _ = client.Close() })
	defer stop()
	out := r.Clone(r.Context())
	out.Proto, out.ProtoMajor, out.ProtoMinor = "HTTP/1.1", 1, 1
	out.Close = true // one request per pipe
	out.RequestURI = ""
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = []string{""} // no Go default on the way
	}
	go func() {
		if err := out.Write(client); err != nil {
			_ = client.Close()
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(client), out)
	if err != nil {
		if r.Context().Err() != nil {
			panic(http.ErrAbortHandler)
		}
		http.Error(w, `{"error":"internal bridge error","status":502}`, http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	h := w.Header()
	for k, v := range resp.Header {
		h[k] = v
	}
	for _, k := range hopHeaders {
		h.Del(k)
	}
	w.WriteHeader(resp.StatusCode)
	flusher, _ := w.(http.Flusher)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if err != nil {
			if err != io.EOF {
				panic(http.ErrAbortHandler) // reset the h2 stream: the body was cut
			}
			return
		}
	}
}
