//go:build linux

package agent_test

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/netnstest"
)

// These tests run the real agent in throw-away network namespaces whose
// IPv6 sysctls differ from the host's. They need root (netnstest skips
// with the reason otherwise).

// agentPort is the agent's port inside a namespace: a fresh namespace has
// nothing listening, so any port is free.
const agentPort = "18080"

// backendIn starts a backend listening on addr inside ns.
func backendIn(t *testing.T, ns *netnstest.NS, b *backend, addr string) string {
	t.Helper()
	var ln net.Listener
	err := ns.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatalf("backend %s on %s in %s: %v", b.name, addr, ns.Name(), err)
	}
	b.serve(t, ln)
	return ln.Addr().String()
}

// startAgentIn runs the agent with cfg inside ns and waits until its health
// path answers 200 on readyHost.
func startAgentIn(t *testing.T, ns *netnstest.NS, cfg, readyHost string) (*proc, *http.Client) {
	t.Helper()
	p := start(t, ns.Command(edgectl(t), "agent", "--config", cfg))
	c := httpClient(ns.DialContext)
	waitReady(t, p, c, urlFor(readyHost, agentPort, "/health"))
	return p, c
}

// plainListen6 opens an IPv6 TCP socket on [::]:port inside ns the way a
// program that sets nothing does: socket, bind, listen, no IPV6_V6ONLY. It
// returns the IPV6_V6ONLY value the kernel gave the socket.
func plainListen6(t *testing.T, ns *netnstest.NS, port int) (v6only int) {
	t.Helper()
	var fd int
	err := ns.Do(func() error {
		var err error
		fd, err = syscall.Socket(syscall.AF_INET6, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if err := syscall.Bind(fd, &syscall.SockaddrInet6{Port: port}); err != nil {
			return errors.Join(err, syscall.Close(fd))
		}
		if err := syscall.Listen(fd, 8); err != nil {
			return errors.Join(err, syscall.Close(fd))
		}
		v6only, err = syscall.GetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY)
		return err
	})
	if err != nil {
		t.Fatalf("plain socket on [::]:%d in %s: %v", port, ns.Name(), err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	return v6only
}

// logRecord is one line of the agent's JSON log.
type logRecord struct {
	Level    string `json:"level"`
	Msg      string `json:"msg"`
	Addr     string `json:"addr"`
	Fallback string `json:"fallback"`
	Error    string `json:"error"`
}

// logRecords parses the agent's stderr; lines that are not JSON are skipped.
func logRecords(stderr string) []logRecord {
	var out []logRecord
	for _, line := range strings.Split(stderr, "\n") {
		var r logRecord
		if json.Unmarshal([]byte(line), &r) == nil && r.Msg != "" {
			out = append(out, r)
		}
	}
	return out
}

// TestDualStackWithBindV6Only runs the agent on [::] in a namespace with
// net.ipv6.bindv6only=1, where a plain IPv6 socket refuses IPv4: the agent
// must accept both families anyway.
func TestDualStackWithBindV6Only(t *testing.T) {
	ns := netnstest.New(t, netnstest.Options{BindV6Only: true})

	// Control: the namespace really is bindv6only=1, so a socket that sets
	// nothing on [::] is IPv6 only.
	const plainPort = 18081
	if v := plainListen6(t, ns, plainPort); v != 1 {
		t.Fatalf("a plain IPv6 socket got IPV6_V6ONLY=%d, want 1 from bindv6only=1", v)
	}
	for _, tt := range []struct {
		name    string
		host    string
		refused bool
	}{
		{name: "plain socket over IPv6", host: "::1"},
		{name: "plain socket over IPv4", host: "127.0.0.1", refused: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := net.JoinHostPort(tt.host, strconv.Itoa(plainPort))
			c, err := ns.DialContext(t.Context(), "tcp", addr)
			if err == nil {
				_ = c.Close()
			}
			switch {
			case tt.refused && !errors.Is(err, syscall.ECONNREFUSED):
				t.Fatalf("dial %s: %v, want connection refused (bindv6only=1 not in effect?)", addr, err)
			case !tt.refused && err != nil:
				t.Fatalf("dial %s: %v", addr, err)
			}
		})
	}

	b := &backend{name: "backend-in-ns"}
	baddr := backendIn(t, ns, b, "127.0.0.1:0")
	cfg := writeFile(t, "agent.yaml", agentYAML{
		listen:  []string{"[::]:" + agentPort},
		timeout: 2 * time.Second,
		servers: []server{{addr: baddr}},
		health:  "{path: /health, interval: 200ms, rise: 1, fall: 1}",
	}.String())
	_, c := startAgentIn(t, ns, cfg, "::1")

	for _, tt := range []struct {
		name string
		host string
	}{
		{name: "agent over IPv4", host: "127.0.0.1"},
		{name: "agent over IPv6", host: "::1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, body, _, err := get(c, urlFor(tt.host, agentPort, "/"))
			if err != nil {
				t.Fatalf("GET via %s: %v", tt.host, err)
			}
			if code != 200 || body != b.name {
				t.Fatalf("GET via %s: %d %q, want 200 %q", tt.host, code, body, b.name)
			}
		})
	}
}

// TestNoIPv6FallsBackToIPv4 runs the agent configured for [::] in a
// namespace with IPv6 disabled (net.ipv6.conf.all.disable_ipv6=1, no ::1):
// it must say that it listens on IPv4 only, and serve IPv4. Where one
// interface has IPv6 again despite the sysctl, it must stay dual-stack.
func TestNoIPv6FallsBackToIPv4(t *testing.T) {
	tests := []struct {
		name       string
		enableLo   bool // net.ipv6.conf.lo.disable_ipv6=0 after the fact: ::1 is back
		wantListen string
		wantWarn   bool
	}{
		{name: "IPv6 disabled everywhere", wantListen: "0.0.0.0:" + agentPort, wantWarn: true},
		{name: "IPv6 enabled again on lo", enableLo: true, wantListen: "[::]:" + agentPort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := netnstest.New(t, netnstest.Options{DisableIPv6: true})
			if tt.enableLo {
				if err := ns.Sysctl("net.ipv6.conf.lo.disable_ipv6", "0"); err != nil {
					t.Fatal(err)
				}
			}

			// Control: the sysctl is in effect, and ::1 exists only on the
			// row that enabled lo again. (Binding [::] works either way;
			// that is why the agent must look further than the bind.)
			var sysctl []byte
			if err := ns.Do(func() (err error) {
				sysctl, err = os.ReadFile("/proc/sys/net/ipv6/conf/all/disable_ipv6")
				return err
			}); err != nil || strings.TrimSpace(string(sysctl)) != "1" {
				t.Fatalf("net.ipv6.conf.all.disable_ipv6 in %s: %q %v, want 1", ns.Name(), sysctl, err)
			}
			err := ns.Do(func() error {
				ln, err := net.Listen("tcp6", "[::1]:0")
				if err == nil {
					_ = ln.Close()
				}
				return err
			})
			if tt.enableLo && err != nil {
				t.Fatalf("listen [::1]:0 with lo enabled again: %v", err)
			}
			if !tt.enableLo && !errors.Is(err, syscall.EADDRNOTAVAIL) {
				t.Fatalf("listen [::1]:0 with disable_ipv6=1: %v, want EADDRNOTAVAIL", err)
			}

			b := &backend{name: "backend-in-ns"}
			baddr := backendIn(t, ns, b, "127.0.0.1:0")
			cfg := writeFile(t, "agent.yaml", agentYAML{
				listen:  []string{"[::]:" + agentPort},
				timeout: 2 * time.Second,
				servers: []server{{addr: baddr}},
				health:  "{path: /health, interval: 200ms, rise: 1, fall: 1}",
			}.String())
			p, c := startAgentIn(t, ns, cfg, "127.0.0.1")

			hosts := []string{"127.0.0.1"}
			if tt.enableLo {
				hosts = append(hosts, "::1")
			}
			for _, host := range hosts {
				code, body, _, err := get(c, urlFor(host, agentPort, "/"))
				if err != nil || code != 200 || body != b.name {
					t.Errorf("GET via %s: %d %q %v, want 200 %q", host, code, body, err, b.name)
				}
			}

			var warned, listening bool
			for _, r := range logRecords(p.stderr.String()) {
				switch {
				case strings.Contains(r.Msg, "IPv4 only"):
					warned = true
					t.Logf("agent: %s %s: addr %s, fallback %s (%s)", r.Level, r.Msg, r.Addr, r.Fallback, r.Error)
					if r.Level != "WARN" || r.Addr != "[::]:"+agentPort || r.Fallback != "0.0.0.0:"+agentPort {
						t.Errorf("log %+v, want level WARN, addr [::]:%s and fallback 0.0.0.0:%s", r, agentPort, agentPort)
					}
				case r.Msg == "listening":
					listening = true
					if r.Addr != tt.wantListen {
						t.Errorf("listening on %s, want %s", r.Addr, tt.wantListen)
					}
				}
			}
			if warned != tt.wantWarn {
				t.Errorf("warning that the agent listens on IPv4 only: %t, want %t", warned, tt.wantWarn)
			}
			if !listening {
				t.Errorf("no \"listening\" log line")
			}
		})
	}
}
