package probe

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func listen(t *testing.T, network, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s here: %v", addr, err)
	}
	return ln
}

func TestHTTPEachFamily(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" || r.Host != "api.example.com" {
			w.WriteHeader(404)
			return
		}
		w.Write([]byte("ok"))
	})
	for _, tc := range []struct{ name, network, addr, family string }{
		{"ipv4", "tcp4", "127.0.0.1:0", "ipv4"},
		{"ipv6", "tcp6", "[::1]:0", "ipv6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(h)
			srv.Listener = listen(t, tc.network, tc.addr)
			srv.Start()
			defer srv.Close()
			r := Do(context.Background(), Request{Addr: srv.Listener.Addr().String(), Scheme: "http", Host: "api.example.com", Path: "/health"})
			if !r.OK() || r.Status != 200 || string(r.Body) != "ok" || r.Family != tc.family {
				t.Fatalf("got %+v", r)
			}
		})
	}
}

// A server on 127.0.0.1 only must show up as refused on [::1] with the same
// port, not be reached by a fallback.
func TestNoFamilyFallback(t *testing.T) {
	ln := listen(t, "tcp4", "127.0.0.1:0")
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	r := Do(context.Background(), Request{Addr: net.JoinHostPort("::1", strconv.Itoa(port)), Scheme: "tcp"})
	if r.OK() || r.Kind != KindRefused || r.Family != "ipv6" {
		t.Fatalf("[::1] probe of an IPv4-only listener: %+v", r)
	}
}

func TestTimeoutAndReset(t *testing.T) {
	ln := listen(t, "tcp4", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		for i := 0; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if i == 0 {
				defer c.Close() // first: accept and say nothing
			} else {
				c.Close() // then: close at once
			}
		}
	}()
	start := time.Now()
	r := Do(context.Background(), Request{Addr: ln.Addr().String(), Scheme: "http", Timeout: 300 * time.Millisecond})
	if r.Kind != KindTimeout || time.Since(start) > 2*time.Second {
		t.Fatalf("silent server: %+v after %v", r, time.Since(start))
	}
	r = Do(context.Background(), Request{Addr: ln.Addr().String(), Scheme: "http"})
	if r.Kind != KindReset {
		t.Fatalf("closing server: kind %q err %v", r.Kind, r.Err)
	}
}

func TestHTTPSReportsCertificate(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	r := Do(context.Background(), Request{Addr: srv.Listener.Addr().String(), Scheme: "https", Host: "example.com", RootCAs: pool})
	if !r.OK() || r.TLS == nil || !r.TLS.HostnameOK || r.TLS.VerifyError != "" || r.TLS.DaysLeft(time.Now()) < 1 {
		t.Fatalf("got %+v tls %+v", r, r.TLS)
	}
	r = Do(context.Background(), Request{Addr: srv.Listener.Addr().String(), Scheme: "https", Host: "other.test"})
	if r.TLS == nil || r.TLS.HostnameOK || r.TLS.VerifyError == "" {
		t.Fatalf("wrong name should not match: %+v", r.TLS)
	}
}

func TestBadAddress(t *testing.T) {
	r := Do(context.Background(), Request{Addr: "localhost:80"})
	if r.Kind != KindBadAddr {
		t.Fatalf("hostname must be refused, got %+v", r)
	}
}

// TestReadsAreCapped: a server that sends an endless head or a huge body
// costs the probe a bounded read, and an endless head is a protocol error.
func TestReadsAreCapped(t *testing.T) {
	ln := listen(t, "tcp4", "127.0.0.1:0")
	defer ln.Close()
	endlessHead := make(chan bool, 2)
	endlessHead <- true
	endlessHead <- false
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(head bool) {
				defer c.Close()
				buf := make([]byte, 4096)
				_, _ = c.Read(buf)
				if head {
					_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n")
				} else {
					_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\n")
				}
				line := []byte("X-Junk: " + strings.Repeat("a", 1000) + "\r\n")
				for i := 0; i < 100000; i++ { // 100 MB if nobody stops reading
					if _, err := c.Write(line); err != nil {
						return
					}
				}
			}(<-endlessHead)
		}
	}()
	r := Do(context.Background(), Request{Addr: ln.Addr().String(), Scheme: "http", Timeout: 5 * time.Second})
	if r.Kind != KindProtocol || !strings.Contains(r.Err.Error(), "larger than 64 KiB") {
		t.Errorf("endless head: kind %q err %v", r.Kind, r.Err)
	}
	r = Do(context.Background(), Request{Addr: ln.Addr().String(), Scheme: "http", Timeout: 5 * time.Second})
	if r.Status != 200 || len(r.Body) != 4096 {
		t.Errorf("endless body: status %d, %d body bytes kept; want 200 and 4096", r.Status, len(r.Body))
	}
}
