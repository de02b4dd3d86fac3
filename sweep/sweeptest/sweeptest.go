// Package sweeptest builds a small fleet on one machine for the tests of
// sweep and of the sweep command: a private network namespace whose lo
// holds every "VPS" address (198.18.0.n and fd00:e:d9e::n), one real
// `edgectl agent` process per host bound to that host's addresses with its
// own certificate, nftables rules to drop a host's path, and a real DNS
// server on loopback answering A/AAAA from a table. It needs root (network
// namespaces) and skips the test elsewhere, with the reason.
package sweeptest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/netnstest"
)

// Port is where every lab agent serves HTTPS; PlainPort serves plain HTTP.
const (
	Port      = 8443
	PlainPort = 8080
	Domain    = "api.example.com"
)

// Lab is the namespace, the CA and the hosts.
type Lab struct {
	NS  *netnstest.NS
	PKI *PKI
	Dir string
	bin string
	nft bool
}

// Host is one lab VPS and its agent.
type Host struct {
	Name  string
	IPv4  string
	IPv6  string
	Admin string // the agent's admin socket
	dir   string
	cfg   string
	lab   *Lab
	mu    sync.Mutex
	proc  *exec.Cmd
	done  chan struct{}
}

// HostOptions vary a host.
type HostOptions struct {
	// CertValid is how long its certificate stays valid (default 90 days).
	CertValid time.Duration
	// DeadUpstream points its upstream at a port where nothing listens.
	DeadUpstream bool
	// Stopped leaves the agent not started.
	Stopped bool
}

// New makes the lab; bin is the edgectl binary (see Build).
func New(t testing.TB, bin string) *Lab {
	t.Helper()
	ns := netnstest.New(t, netnstest.Options{})
	return &Lab{NS: ns, PKI: NewPKI(t), Dir: t.TempDir(), bin: bin}
}

// Dial dials from inside the lab, where the hosts' addresses are.
func (l *Lab) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return l.NS.DialContext(ctx, network, addr)
}

// AddAddrs puts 198.18.0.n and fd00:e:d9e::n on the lab's lo for every
// n (2-254) in one ip -batch, and returns them in order.
func (l *Lab) AddAddrs(t testing.TB, ns ...int) (v4, v6 []string) {
	t.Helper()
	var batch strings.Builder
	for _, n := range ns {
		a4, a6 := fmt.Sprintf("198.18.0.%d", n), fmt.Sprintf("fd00:e:d9e::%d", n)
		fmt.Fprintf(&batch, "addr add %s/32 dev lo\naddr add %s/128 dev lo nodad\n", a4, a6)
		v4, v6 = append(v4, a4), append(v6, a6)
	}
	cmd := exec.Command("ip", "-n", l.NS.Name(), "-batch", "-")
	cmd.Stdin = strings.NewReader(batch.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ip -batch: %v: %s", err, out)
	}
	return v4, v6
}

// AddHost adds host number n (edge-n) with its addresses, certificate and
// agent, started and answering unless opts.Stopped.
func (l *Lab) AddHost(t testing.TB, n int, opts HostOptions) *Host {
	t.Helper()
	h := &Host{Name: fmt.Sprintf("edge-%d", n), lab: l, dir: filepath.Join(l.Dir, fmt.Sprintf("edge-%d", n))}
	v4, v6 := l.AddAddrs(t, n)
	h.IPv4, h.IPv6 = v4[0], v6[0]
	h.Admin = filepath.Join(h.dir, "agent.sock")
	valid := opts.CertValid
	if valid == 0 {
		valid = 90 * 24 * time.Hour
	}
	certs := filepath.Join(h.dir, "certs")
	l.PKI.WriteLeaf(t, filepath.Join(certs, "api"), valid, Domain)
	upstream := net.JoinHostPort(h.IPv4, strconv.Itoa(PlainPort))
	if opts.DeadUpstream {
		upstream = net.JoinHostPort(h.IPv4, "9")
	}
	var b strings.Builder
	b.WriteString("listen:\n")
	for _, ip := range []string{h.IPv4, h.IPv6} {
		fmt.Fprintf(&b, "  - addr: %q\n    tls: true\n", net.JoinHostPort(ip, strconv.Itoa(Port)))
	}
	fmt.Fprintf(&b, "  - addr: %q\n", net.JoinHostPort(h.IPv4, strconv.Itoa(PlainPort)))
	fmt.Fprintf(&b, "admin: %q\naccess_log: \"off\"\ndrain: {delay: 0s, timeout: 1s}\n", h.Admin)
	fmt.Fprintf(&b, "tls:\n  certs_dir: %q\n  redirect_http: false\n", certs)
	fmt.Fprintf(&b, "acme_challenge_dir: %q\n", filepath.Join(h.dir, "acme"))
	fmt.Fprintf(&b, "endpoints:\n  file: %q\n", filepath.Join(h.dir, "endpoints.txt"))
	fmt.Fprintf(&b, "upstreams:\n  api:\n    servers:\n      - addr: %q\n", upstream)
	b.WriteString("    health: {path: /health, interval: 200ms, timeout: 500ms, rise: 1, fall: 1}\n")
	b.WriteString("routes:\n  - path: /api/\n    upstream: api\n")
	h.cfg = filepath.Join(h.dir, "agent.yaml")
	if err := os.WriteFile(h.cfg, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if !opts.Stopped {
		h.Start(t)
	}
	return h
}

// Start runs the host's agent in the lab and waits until its HTTPS
// listeners accept on both families.
func (h *Host) Start(t testing.TB) {
	t.Helper()
	h.mu.Lock()
	cmd := h.lab.NS.Command(h.lab.bin, "agent", "--config", h.cfg)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		h.mu.Unlock()
		t.Fatalf("start agent of %s: %v", h.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	h.proc, h.done = cmd, done
	h.mu.Unlock()
	t.Cleanup(func() { h.Stop(t) })
	deadline := time.Now().Add(10 * time.Second)
	for _, ip := range []string{h.IPv4, h.IPv6} {
		addr := net.JoinHostPort(ip, strconv.Itoa(Port))
		for {
			c, err := h.lab.Dial(context.Background(), "tcp", addr)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-done:
				t.Fatalf("agent of %s exited: %s", h.Name, stderr.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("agent of %s does not listen on %s: %v", h.Name, addr, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// Stop kills the host's agent (if running) and waits for it to exit.
func (h *Host) Stop(t testing.TB) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.proc == nil {
		return
	}
	_ = h.proc.Process.Kill()
	<-h.done
	h.proc = nil
}

// DropIPv6 makes the lab drop every packet to the host's IPv6 address on
// Port, so probes there time out (no refusal, no error: silence).
func (l *Lab) DropIPv6(t testing.TB, h *Host) {
	t.Helper()
	l.Drop(t, "ip6 daddr "+h.IPv6)
}

// Drop adds an nftables rule dropping incoming TCP to Port for match
// (e.g. "ip daddr 198.18.0.5" or "ip6 daddr { fd00:e:d9e::5, ... }").
func (l *Lab) Drop(t testing.TB, match string) {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft (apt-get install nftables) to drop a path")
	}
	script := ""
	if !l.nft {
		script = "add table inet sweeptest\nadd chain inet sweeptest input { type filter hook input priority 0; policy accept; }\n"
		l.nft = true
	}
	script += fmt.Sprintf("add rule inet sweeptest input %s tcp dport %d drop\n", match, Port)
	cmd := l.NS.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
}

// FleetYAML is a fleet.yaml for hosts: the lab's domain, resolver, port
// and CA, plus extra lines appended under sweep: (indented by the caller).
func (l *Lab) FleetYAML(resolver string, hosts []*Host, sweepExtra string) string {
	var b strings.Builder
	b.WriteString("hosts:\n")
	for _, h := range hosts {
		fmt.Fprintf(&b, "  - name: %s\n    ipv4: %s\n    ipv6: %q\n", h.Name, h.IPv4, h.IPv6)
	}
	fmt.Fprintf(&b, "domains: [%s]\nresolver: %q\n", Domain, resolver)
	if len(hosts) > 0 {
		fmt.Fprintf(&b, "agent:\n  admin: %q\n", hosts[0].Admin)
	}
	fmt.Fprintf(&b, "sweep:\n  port: %d\n  timeout: 1s\n%s", Port, sweepExtra)
	return b.String()
}

// WaitUpstreams waits until the host's agent reports live servers in
// every upstream (or, with dead, none), through its plain listener.
func (h *Host) WaitUpstreams(t testing.TB, dead bool) {
	t.Helper()
	// The admin socket: the public health path answers the status only.
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", h.Admin)
		}}}
	defer c.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		var body struct {
			Upstreams []struct{ Live int } `json:"upstreams"`
		}
		if resp, err := c.Get("http://agent/status"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(b)
			if json.Unmarshal(b, &body) == nil && len(body.Upstreams) > 0 {
				ok := true
				for _, u := range body.Upstreams {
					ok = ok && (u.Live > 0) != dead
				}
				if ok {
					return
				}
			}
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: upstreams not as wanted (dead=%v) within 5s: %s", h.Name, dead, last)
}

// SharedAgent starts one agent listening dual-stack on [::]:Port, so it
// answers on every address of the lab (for scale tests: n hosts, one
// process). It serves a certificate for Domain valid 90 days.
func (l *Lab) SharedAgent(t testing.TB, probeIPv4, probeIPv6 string) *Host {
	t.Helper()
	h := &Host{Name: "shared", IPv4: probeIPv4, IPv6: probeIPv6, lab: l, dir: filepath.Join(l.Dir, "shared")}
	h.Admin = filepath.Join(h.dir, "agent.sock")
	certs := filepath.Join(h.dir, "certs")
	l.PKI.WriteLeaf(t, filepath.Join(certs, "api"), 90*24*time.Hour, Domain)
	cfg := fmt.Sprintf("listen:\n  - addr: \"[::]:%d\"\n    tls: true\nadmin: %q\naccess_log: \"off\"\n"+
		"drain: {delay: 0s, timeout: 1s}\ntls:\n  certs_dir: %q\n  redirect_http: false\nacme_challenge_dir: %q\n"+
		"endpoints:\n  file: %q\n", Port, h.Admin, certs, filepath.Join(h.dir, "acme"), filepath.Join(h.dir, "endpoints.txt"))
	h.cfg = filepath.Join(h.dir, "agent.yaml")
	if err := os.WriteFile(h.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	h.Start(t)
	return h
}

// Listen opens a TCP listener on addr inside the lab (for a webhook or a
// port to hand to --listen).
func (l *Lab) Listen(t testing.TB, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	err := l.NS.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
