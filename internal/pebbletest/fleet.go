package pebbletest

import (
	"bytes"
	"context"
	"fmt"
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

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/internal/buildtest"
	"github.com/edgectl/edgectl/remote"
	"github.com/edgectl/edgectl/remote/remotetest"
)

// AgentSpec is one fleet host of a Testbed: a real `edgectl agent`
// process listening on IP only (127.0.0.1 or ::1).
type AgentSpec struct {
	Name string
	IP   string
}

// TestbedOptions configure a Testbed.
type TestbedOptions struct {
	// Agents are the fleet's hosts (at least one).
	Agents []AgentSpec
	// Domains go into fleet.yaml's domains.
	Domains []string
	// Challenge is http-01 (default) or dns-01.
	Challenge, DNSProvider string
	// Validity of issued certificates (default 90 days).
	Validity time.Duration
}

// Testbed is a fleet of real agents on loopback in front of a real CA.
//
// Every agent has its own root directory standing for its filesystem: the
// fleet's agent config names /var/lib/edgectl/acme and /etc/edgectl/certs,
// and Dial returns remotetest.Rooted(remote.Local{}, root) so that what edgectl
// writes there lands in that agent's own directories, which the agent
// process was configured with. All agents share one HTTP and one TLS port,
// each bound to its own address, as hosts of a real fleet do.
type Testbed struct {
	CA        *CA
	Agents    []*Agent
	FleetFile string
	Fleet     *fleet.Fleet
	HTTPPort  int
	TLSPort   int
}

// Agent is one running agent.
type Agent struct {
	Name, IP string
	// Root is the directory standing for the host's "/".
	Root   string
	config string
	bin    string
	port   int
	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	stderr bytes.Buffer
}

// Fleet paths as the fleet's agent config names them.
const (
	ACMEDir  = "/var/lib/edgectl/acme"
	CertsDir = "/etc/edgectl/certs"
)

// NewTestbed starts a CA and the agents and writes fleet.yaml.
func NewTestbed(t testing.TB, o TestbedOptions) *Testbed {
	t.Helper()
	tb := &Testbed{HTTPPort: FreePort(t), TLSPort: FreePort(t)}
	tb.CA = Start(t, Options{HTTPPort: tb.HTTPPort, Validity: o.Validity})
	bin := buildtest.Edgectl(t)
	dir := t.TempDir()
	for _, s := range o.Agents {
		a := &Agent{Name: s.Name, IP: s.IP, Root: filepath.Join(dir, s.Name), bin: bin, port: tb.HTTPPort}
		for _, d := range []string{ACMEDir, CertsDir} {
			if err := os.MkdirAll(filepath.Join(a.Root, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		var b strings.Builder
		fmt.Fprintf(&b, "listen:\n  - addr: %q\n  - addr: %q\n    tls: true\n",
			net.JoinHostPort(s.IP, strconv.Itoa(tb.HTTPPort)), net.JoinHostPort(s.IP, strconv.Itoa(tb.TLSPort)))
		fmt.Fprintf(&b, "admin: \"\"\naccess_log: \"off\"\ndrain: {delay: 0s, timeout: 1s}\n")
		fmt.Fprintf(&b, "tls:\n  certs_dir: %q\n  redirect_http: false\n", filepath.Join(a.Root, CertsDir))
		fmt.Fprintf(&b, "acme_challenge_dir: %q\n", filepath.Join(a.Root, ACMEDir))
		fmt.Fprintf(&b, "endpoints:\n  file: %q\n", filepath.Join(a.Root, "endpoints.txt"))
		a.config = filepath.Join(a.Root, "agent.yaml")
		if err := os.WriteFile(a.config, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		a.Start(t)
		tb.Agents = append(tb.Agents, a)
	}
	tb.FleetFile = filepath.Join(dir, "fleet.yaml")
	tb.WriteFleet(t, o)
	return tb
}

// WriteFleet (re)writes fleet.yaml from o and loads it into tb.Fleet.
func (tb *Testbed) WriteFleet(t testing.TB, o TestbedOptions) {
	t.Helper()
	var b strings.Builder
	b.WriteString("hosts:\n")
	for _, a := range tb.Agents {
		key := "ipv4"
		if strings.Contains(a.IP, ":") {
			key = "ipv6"
		}
		fmt.Fprintf(&b, "  - name: %s\n    %s: %q\n", a.Name, key, a.IP)
	}
	b.WriteString("domains:\n")
	for _, d := range o.Domains {
		fmt.Fprintf(&b, "  - %q\n", d)
	}
	fmt.Fprintf(&b, "resolver: %q\n", tb.CA.DNS)
	challenge := o.Challenge
	if challenge == "" {
		challenge = "http-01"
	}
	fmt.Fprintf(&b, "acme:\n  email: ops@example.com\n  directory: %q\n  challenge: %s\n  ca_certificates: %q\n",
		tb.CA.Directory, challenge, tb.CA.CACertFile)
	if o.DNSProvider != "" {
		fmt.Fprintf(&b, "  dns_provider: %s\n", o.DNSProvider)
	}
	fmt.Fprintf(&b, "agent:\n  listen:\n    - addr: \"[::]:%d\"\n    - addr: \"[::]:%d\"\n      tls: true\n", tb.HTTPPort, tb.TLSPort)
	fmt.Fprintf(&b, "  acme_challenge_dir: %s\n  tls: {certs_dir: %s}\n", ACMEDir, CertsDir)
	if err := os.WriteFile(tb.FleetFile, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := fleet.Load(tb.FleetFile)
	if err != nil {
		t.Fatalf("test fleet.yaml: %v\n%s", err, b.String())
	}
	tb.Fleet = f
}

// Dial is the test's certs.Dialer: the local machine, rooted at the host's
// agent root.
func (tb *Testbed) Dial(_ context.Context, h fleet.Host) (remote.Host, error) {
	for _, a := range tb.Agents {
		if a.Name == h.Name {
			return remotetest.Rooted(remote.Local{}, a.Root, a.Name), nil
		}
	}
	return nil, fmt.Errorf("no test agent %s", h.Name)
}

// Agent returns the agent called name.
func (tb *Testbed) Agent(name string) *Agent {
	for _, a := range tb.Agents {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// Start starts the agent process and waits until it answers its health
// path on its HTTP port.
func (a *Agent) Start(t testing.TB) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	cmd := exec.Command(a.bin, "agent", "-c", a.config)
	a.stderr.Reset()
	cmd.Stdout, cmd.Stderr = &a.stderr, &a.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start agent %s: %v", a.Name, err)
	}
	a.cmd, a.done = cmd, make(chan struct{})
	done := a.done
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { a.Stop() })
	url := "http://" + net.JoinHostPort(a.IP, strconv.Itoa(a.port)) + "/health"
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-done:
			t.Fatalf("agent %s exited at start:\n%s", a.Name, a.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent %s not healthy on %s after 15s: %v", a.Name, url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the agent and waits for it to exit.
func (a *Agent) Stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd == nil {
		return
	}
	_ = a.cmd.Process.Kill()
	<-a.done
	a.cmd = nil
}

// Cleanup removes the binaries built for the test process; call it from
// TestMain after m.Run.
func Cleanup() { buildtest.Cleanup() }
