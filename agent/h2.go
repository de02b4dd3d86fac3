package agent

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"

	"golang.org/x/net/http2"
)

// HTTP/2 clients (ALPN "h2") are served by golang.org/x/net/http2, and each
// request is bridged into the same HTTP/1.1 engine through an in-memory
// pipe, so routing, failover, retries, health and logging are the same
// for every client. WebSockets use HTTP/1.1 (browsers do).

//lint:file-ignore SA1019 x/net/http2's ServeConn is the API for serving a connection whose ALPN the agent negotiated itself; net/http offers no per-connection equivalent.

// h2Servers is one HTTP/2 server for every h2 connection, tied to a base
// http.Server whose Shutdown sends GOAWAY to all of them on drain.
type h2Servers struct {
	once sync.Once
	base *http.Server
	h2   *http2.Server
}

func (a *Agent) h2() *h2Servers {
	a.h2s.once.Do(func() {
		// Idle h2 connections close like HTTP/1.1 keepalive ones (nginx's
		// keepalive_timeout covers both); without it they stay forever.
		a.h2s.base = &http.Server{IdleTimeout: a.handler.IdleTimeout}
		a.h2s.h2 = &http2.Server{IdleTimeout: a.handler.IdleTimeout}
		_ = http2.ConfigureServer(a.h2s.base, a.h2s.h2)
	})
	return &a.h2s
}

func (a *Agent) serveH2(tc *tls.Conn) {
	remote := remoteHost(tc.RemoteAddr())
	s := a.h2()
	s.h2.ServeConn(tc, &http2.ServeConnOpts{BaseConfig: s.base, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.bridgeH2(w, r, remote)
	})})
}

// goAwayH2 tells every HTTP/2 client to finish its streams and reconnect
// elsewhere (GOAWAY); streams in flight complete.
func (a *Agent) goAwayH2(ctx context.Context) {
	_ = a.h2().base.Shutdown(ctx)
}

func remoteHost(addr net.Addr) string {
	if ta, ok := addr.(*net.TCPAddr); ok {
		return ta.IP.String()
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
	out := r.Clone(r.Context())
	out.Proto, out.ProtoMajor, out.ProtoMinor = "HTTP/1.1", 1, 1
	out.Close = true // one request per pipe
	out.RequestURI = ""
	go func() {
		if err := out.Write(client); err != nil {
			_ = client.Close()
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(client), out)
	if err != nil {
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
