package pebbletest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
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
)

// Options configure a CA.
type Options struct {
	// HTTPPort is the port Pebble's VA fetches HTTP-01 tokens from
	// (required): the agents' plain HTTP port.
	HTTPPort int
	// Validity is the lifetime of issued certificates (default 90 days,
	// whole seconds).
	Validity time.Duration
}

// CA is a running Pebble with its challtestsrv.
type CA struct {
	// Directory is the ACME directory URL (https on 127.0.0.1).
	Directory string
	// CACertFile is the PEM root that signs the directory's TLS
	// certificate: what acme.ca_certificates must name.
	CACertFile string
	// DNS is challtestsrv's DNS server (127.0.0.1:port, UDP and TCP): the
	// resolver for pre-flight and for Pebble's VA.
	DNS string
	// ChallManagement is challtestsrv's management API base URL, for
	// scripts that set TXT records (POST /set-txt {"host","value"}).
	ChallManagement string
	// Management is Pebble's management API base URL (/roots/0 …).
	Management string

	client *http.Client
	logMu  sync.Mutex
	logs   bytes.Buffer
}

// Start runs challtestsrv and Pebble on free loopback ports and stops them
// when the test ends.
func Start(t testing.TB, o Options) *CA {
	t.Helper()
	if o.HTTPPort == 0 {
		t.Fatal("pebbletest: Options.HTTPPort is required")
	}
	b := build(t)
	dir := t.TempDir()
	ca := &CA{CACertFile: filepath.Join(b.moduleDir, "test", "certs", "pebble.minica.pem")}
	dnsPort, chall, listen, mgmt, tlsPort := FreePort(t), FreePort(t), FreePort(t), FreePort(t), FreePort(t)
	ca.DNS = net.JoinHostPort("127.0.0.1", strconv.Itoa(dnsPort))
	ca.ChallManagement = "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(chall))
	ca.Directory = "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(listen)) + "/dir"
	ca.Management = "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(mgmt))

	validity := uint64(o.Validity / time.Second)
	if validity == 0 {
		validity = 90 * 24 * 3600
	}
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress":                  net.JoinHostPort("127.0.0.1", strconv.Itoa(listen)),
		"managementListenAddress":        net.JoinHostPort("127.0.0.1", strconv.Itoa(mgmt)),
		"certificate":                    filepath.Join(b.moduleDir, "test", "certs", "localhost", "cert.pem"),
		"privateKey":                     filepath.Join(b.moduleDir, "test", "certs", "localhost", "key.pem"),
		"httpPort":                       o.HTTPPort,
		"tlsPort":                        tlsPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
		"keyAlgorithm":                   "ecdsa",
		"profiles": map[string]any{"default": map[string]any{
			"description": "edgectl test profile", "validityPeriod": validity,
		}},
	}}
	cb, _ := json.Marshal(conf)
	confPath := filepath.Join(dir, "pebble-config.json")
	if err := os.WriteFile(confPath, cb, 0o600); err != nil {
		t.Fatal(err)
	}

	ca.run(t, exec.Command(b.challtestsrv,
		"-dnsserver", ca.DNS, "-management", net.JoinHostPort("127.0.0.1", strconv.Itoa(chall)),
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
		"-defaultIPv4", "", "-defaultIPv6", ""))
	pebble := exec.Command(b.pebble, "-config", confPath, "-dnsserver", ca.DNS)
	pebble.Dir = b.moduleDir
	pebble.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	ca.run(t, pebble)

	pool := x509.NewCertPool()
	pem, err := os.ReadFile(ca.CACertFile)
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("pebbletest: read %s: %v", ca.CACertFile, err)
	}
	ca.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	ca.waitUp(t, ca.Directory)
	ca.waitUp(t, ca.ChallManagement+"/dns-request-history")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pebble and challtestsrv output:\n%s", ca.Logs())
		}
	})
	return ca
}

// run starts cmd with its output in ca's log and kills it at cleanup.
func (ca *CA) run(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	w := &lockedWriter{ca: ca, prefix: filepath.Base(cmd.Path) + ": "}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatalf("pebbletest: start %s: %v", cmd.Path, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
}

// Logs returns what Pebble and challtestsrv printed so far.
func (ca *CA) Logs() string {
	ca.logMu.Lock()
	defer ca.logMu.Unlock()
	return ca.logs.String()
}

type lockedWriter struct {
	ca     *CA
	prefix string
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.ca.logMu.Lock()
	defer w.ca.logMu.Unlock()
	for _, line := range bytes.SplitAfter(p, []byte("\n")) {
		if len(line) > 0 {
			w.ca.logs.WriteString(w.prefix)
			w.ca.logs.Write(line)
		}
	}
	return len(p), nil
}

func (ca *CA) waitUp(t testing.TB, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := ca.client.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebbletest: %s not up after 20s: %v\n%s", url, err, ca.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// post calls a challtestsrv management endpoint.
func (ca *CA) post(t testing.TB, path string, body any) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := ca.client.Post(ca.ChallManagement+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("pebbletest: %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("pebbletest: %s %s: %s %s", path, b, resp.Status, msg)
	}
}

// AddA makes the DNS server answer A queries for host with addrs.
func (ca *CA) AddA(t testing.TB, host string, addrs ...string) {
	ca.post(t, "/add-a", map[string]any{"host": host, "addresses": addrs})
}

// AddAAAA makes the DNS server answer AAAA queries for host with addrs.
func (ca *CA) AddAAAA(t testing.TB, host string, addrs ...string) {
	ca.post(t, "/add-aaaa", map[string]any{"host": host, "addresses": addrs})
}

// IssuerRoots returns the pool of the root that signs issued certificates
// (from the management API's /roots/0; it changes with every Pebble run).
func (ca *CA) IssuerRoots(t testing.TB) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if pem := ca.issuerRootPEM(t); !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("pebbletest: /roots/0 gave no certificate: %s", pem)
	}
	return pool
}

// IssuerRootsFile writes the root of issued certificates to a PEM file in
// the test's temp dir (for --ca-file) and returns its path.
func (ca *CA) IssuerRootsFile(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pebble-issuer-root.pem")
	if err := os.WriteFile(p, ca.issuerRootPEM(t), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func (ca *CA) issuerRootPEM(t testing.TB) []byte {
	t.Helper()
	resp, err := ca.client.Get(ca.Management + "/roots/0")
	if err != nil {
		t.Fatalf("pebbletest: get root: %v", err)
	}
	defer resp.Body.Close()
	pem, _ := io.ReadAll(resp.Body)
	return pem
}

// FreePort returns a TCP port that was free on 127.0.0.1 and, where the
// machine has IPv6, on [::1] too (so a v4 and a v6 server can share it).
func FreePort(t testing.TB) int {
	t.Helper()
	for range 50 {
		l4, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l4.Addr().(*net.TCPAddr).Port
		l6, err := net.Listen("tcp6", net.JoinHostPort("::1", strconv.Itoa(port)))
		if err == nil {
			l6.Close()
		}
		// UDP too: the DNS server binds both.
		u, uerr := net.ListenPacket("udp4", l4.Addr().String())
		if uerr == nil {
			u.Close()
		}
		l4.Close()
		if (err == nil || !HasIPv6()) && uerr == nil {
			return port
		}
	}
	t.Fatal("pebbletest: no port free on both 127.0.0.1 and [::1]")
	return 0
}

// HasIPv6 reports whether [::1] can be listened on.
func HasIPv6() bool {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// Ctx is a context bounded for one ACME run in tests.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Orders counts the orders Pebble created so far, from its own log ("Added
// order … to the db"): the CA's count, independent of the client's.
func (ca *CA) Orders() int {
	return strings.Count(ca.Logs(), "Added order ")
}
