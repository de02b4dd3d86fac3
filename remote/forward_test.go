package remote_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/sshtest"
	"github.com/edgectl/edgectl/probe"
)

// echo serves one line-less echo per connection on a fresh port of addr.
func echo(t *testing.T, network, addr string) string {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func TestDialContext(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{})
	h := dial(t, srv.Config("edge-1"))
	v4 := echo(t, "tcp4", "127.0.0.1:0")
	v6 := echo(t, "tcp6", "[::1]:0")
	closed := func() string { // a port nothing listens on
		ln, err := net.Listen("tcp6", "[::1]:0")
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		return ln.Addr().String()
	}()
	tests := []struct {
		name    string
		network string
		addr    string
		wantErr string // "" when the echo must work
		errno   error
	}{
		{name: "tcp6 to ipv6", network: "tcp6", addr: v6},
		{name: "tcp to ipv6", network: "tcp", addr: v6},
		{name: "tcp4 to ipv4", network: "tcp4", addr: v4},
		{name: "tcp to a name", network: "tcp", addr: net.JoinHostPort("localhost", portOf(v4))},
		{name: "tcp4 to ipv6 refused", network: "tcp4", addr: v6, wantErr: "::1 is not an IPv4 address"},
		{name: "tcp6 to ipv4 refused", network: "tcp6", addr: v4, wantErr: "127.0.0.1 is not an IPv6 address"},
		{name: "tcp6 to mapped ipv4 refused", network: "tcp6", addr: net.JoinHostPort("::ffff:127.0.0.1", portOf(v4)), wantErr: "is not an IPv6 address"},
		{name: "tcp4 to a name refused", network: "tcp4", addr: net.JoinHostPort("localhost", portOf(v4)), wantErr: "tcp4 needs an IP address"},
		{name: "udp refused", network: "udp", addr: v4, wantErr: `network "udp"`},
		{name: "nothing listening", network: "tcp6", addr: closed, wantErr: "dial tcp6 " + closed + " from edge-1", errno: syscall.ECONNREFUSED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := h.DialContext(t.Context(), tt.network, tt.addr)
			if tt.wantErr != "" {
				if err == nil {
					c.Close()
					t.Fatal("dial worked, want an error")
				}
				if !strings.Contains(err.Error(), tt.wantErr) || tt.errno != nil && !errors.Is(err, tt.errno) {
					t.Errorf("error %q, want it to contain %q (errno %v)", err, tt.wantErr, tt.errno)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if ip := net.ParseIP(strings.Trim(hostOf(tt.addr), "[]")); ip != nil && c.RemoteAddr().String() != tt.addr {
				t.Errorf("RemoteAddr %v, want %s", c.RemoteAddr(), tt.addr)
			}
			if _, err := c.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			c.(interface{ CloseWrite() error }).CloseWrite()
			got, err := io.ReadAll(c)
			if err != nil || string(got) != "ping" {
				t.Errorf("echo %q, %v; want ping", got, err)
			}
		})
	}

	t.Run("deadline", func(t *testing.T) {
		silent, err := net.Listen("tcp6", "[::1]:0")
		if err != nil {
			t.Fatal(err)
		}
		defer silent.Close()
		c, err := h.DialContext(t.Context(), "tcp6", silent.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("Read from a silent server: %v, want os.ErrDeadlineExceeded", err)
		}
	})

	t.Run("probe through the host", func(t *testing.T) {
		ln, err := net.Listen("tcp6", "[::1]:0")
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "healthy")
		}))
		ts.Listener = ln
		ts.Start()
		defer ts.Close()
		r := probe.Do(t.Context(), probe.Request{Addr: ln.Addr().String(), Scheme: "http", Path: "/health", Dial: h.DialContext})
		if r.Status != 200 || string(r.Body) != "healthy" || r.Family != "ipv6" {
			t.Errorf("probe: %+v", r)
		}
		r = probe.Do(t.Context(), probe.Request{Addr: closed, Scheme: "http", Dial: h.DialContext})
		if r.Kind != probe.KindRefused {
			t.Errorf("probe of a closed port: kind %q (%v), want refused", r.Kind, r.Err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := h.DialContext(ctx, "tcp6", ln.Addr().String()); !errors.Is(err, context.Canceled) {
			t.Errorf("dial with a cancelled context: %v", err)
		}
	})
}

func hostOf(addr string) string { h, _, _ := net.SplitHostPort(addr); return h }
func portOf(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }
