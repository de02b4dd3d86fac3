package cli

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/edgectl/edgectl/internal/buildtest"
	"github.com/edgectl/edgectl/internal/golden"
)

// runDiagnose runs `edgectl diagnose 502 args…` in-process and returns the
// exit code, stdout and stderr.
func runDiagnose(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ios, _, out, errb := TestIO()
	f := &Factory{Version: "test", IO: ios}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	code := Run(ctx, f, append([]string{"diagnose", "502"}, args...))
	return code, out.String(), errb.String()
}

// freePort returns a loopback port nothing listens on (on either family).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "[::]:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func TestDiagnoseUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"config and nginx", []string{"--config", "a.yaml", "--nginx"}, "pass one"},
		{"bad port", []string{"--port", "70000"}, "not a TCP port"},
		{"host without fleet", []string{"--host", "vps1"}, "-f fleet.yaml"},
		{"ssh and host", []string{"--ssh", "root@198.18.0.11", "--host", "a", "-f", "x"}, "pass one"},
		{"bad ssh", []string{"--ssh", "198.18.0.11"}, "user@host"},
		{"empty ssh", []string{"--ssh", ""}, "--ssh needs user@host[:port]"},
		{"empty host", []string{"--host", "", "-f", "fleet.yaml"}, "--host needs a host name"},
		{"missing config", []string{"--config", "/nonexistent/agent.yaml"}, "/nonexistent/agent.yaml"},
		{"bad url", []string{"--url", "ftp://x"}, "--url"},
		{"unknown flag", []string{"--bogus"}, "unknown flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runDiagnose(t, tt.args...)
			if code != ExitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d naming %q", code, stderr, ExitUsage, tt.want)
			}
		})
	}
}

func TestDiagnoseInvalidConfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "agent.yaml")
	os.WriteFile(p, []byte("upstreams:\n  api:\n    servers:\n      - addr: nope\n"), 0o600)
	code, _, stderr := runDiagnose(t, "--config", p)
	if code != ExitUsage || !strings.Contains(stderr, p+":4:") {
		t.Errorf("exit %d, stderr %q; want 2 with file:line", code, stderr)
	}
}

func TestDiagnoseNothingListening(t *testing.T) {
	port := freePort(t)
	code, out, _ := runDiagnose(t, "--port", strconv.Itoa(port), "--probe-timeout", "500ms")
	want := "cause: nothing listens on port " + strconv.Itoa(port)
	if code != ExitProblem || !strings.HasPrefix(firstLine(out), want) {
		t.Errorf("exit %d, first line %q; want 1 and %q", code, firstLine(out), want)
	}
	if !strings.HasPrefix(strings.Split(out, "\n")[1], "fix: ") {
		t.Errorf("second line is not the fix:\n%s", out)
	}
}

func TestDiagnoseHealthy(t *testing.T) {
	ln, err := net.Listen("tcp", "[::]:0") // Go's [::] is dual-stack
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })}
	go srv.Serve(ln)
	defer srv.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	start := time.Now()
	code, out, stderr := runDiagnose(t, "--port", port)
	took := time.Since(start)
	if code != ExitOK || !strings.HasPrefix(out, "ok: no problem found on localhost") {
		t.Fatalf("exit %d; want 0 and an ok line:\n%s%s", code, out, stderr)
	}
	t.Logf("healthy local run: %s", took)
	if took > 2*time.Second {
		t.Errorf("healthy local run took %s, want under 1 s (generous bound 2 s)", took)
	}

	code, out, _ = runDiagnose(t, "--port", port, "--json")
	var rep struct {
		Host   string          `json:"host"`
		Status string          `json:"status"`
		Cause  json.RawMessage `json:"cause"`
		Checks []struct {
			ID, Status, Summary, Evidence, Fix string
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if code != ExitOK || rep.Host != "localhost" || rep.Status != "ok" || string(rep.Cause) != "null" || len(rep.Checks) < 10 {
		t.Errorf("--json: exit %d, %+v", code, rep)
	}
	for _, k := range []string{`"id"`, `"status"`, `"summary"`, `"evidence"`, `"fix"`} {
		if !strings.Contains(out, k) {
			t.Errorf("--json lacks key %s", k)
		}
	}
}

// TestDiagnoseSeedOutageGolden is the seed outage in its --port form: the
// sample backend listens on 127.0.0.1 only, [::1] is refused. The text
// report is compared with a golden file (pids, ports, times normalised).
func TestDiagnoseSeedOutageGolden(t *testing.T) {
	port := freePort(t)
	bin := buildtest.Binary(t, "./internal/sampleapp", "test")
	app := exec.Command(bin, "--listen", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { app.Process.Kill(); app.Wait() }()
	for i := 0; ; i++ {
		c, err := net.Dial("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			c.Close()
			break
		}
		if i > 200 {
			t.Fatalf("sampleapp does not listen: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	code, out, stderr := runDiagnose(t, "--port", strconv.Itoa(port))
	if code != ExitProblem || !strings.HasPrefix(out, "cause: the backend listens on IPv4 only") {
		t.Fatalf("exit %d; want 1 and the IPv4-only cause first:\n%s%s", code, out, stderr)
	}
	norm := strings.ReplaceAll(out, strconv.Itoa(port), "PORT")
	norm = regexp.MustCompile(`pid \d+`).ReplaceAllString(norm, "pid N")
	norm = regexp.MustCompile(`in [0-9.]+(µs|ms|s)\b`).ReplaceAllString(norm, "in T")
	norm = regexp.MustCompile(` {2,}`).ReplaceAllString(norm, "  ")
	// Firewall rules need root to read: the line differs between machines.
	norm = regexp.MustCompile(`(?m)^(firewall\.ipv[46])  \w+  .*$`).ReplaceAllString(norm, "$1  (varies)")
	norm = regexp.MustCompile(`(?m)^hint: run as root.*\n`).ReplaceAllString(norm, "")
	golden.Check(t, "diagnose 502 --port (seed outage)", "../diagnose/testdata/seed_outage_port.golden", []byte(norm))
}

// TestDiagnoseProbeTimeoutBoundsSSH: an SSH server that accepts and never
// answers holds diagnose for --probe-timeout, not for the default 10 s
// connect timeout.
func TestDiagnoseProbeTimeoutBoundsSSH(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // accepted, never a banner
		}
	}()
	dir := t.TempDir()
	_, priv, _ := ed25519.GenerateKey(nil)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "id_ed25519")
	os.WriteFile(key, pem.EncodeToMemory(block), 0o600)
	known := filepath.Join(dir, "known_hosts")
	os.WriteFile(known, nil, 0o600)
	t.Setenv("SSH_AUTH_SOCK", "")
	start := time.Now()
	code, _, stderr := runDiagnose(t, "--ssh", "root@"+ln.Addr().String(), "--identity", key, "--known-hosts", known, "--probe-timeout", "300ms")
	took := time.Since(start)
	// The connect deadline surfaces from the dial's context ("no answer
	// within 300ms") or from the connection's own deadline (i/o timeout).
	if code != ExitProblem || !strings.Contains(stderr, "no answer within 300ms") && !strings.Contains(stderr, "i/o timeout") {
		t.Errorf("exit %d, stderr %q; want 1 and a timeout", code, stderr)
	}
	if took > 3*time.Second {
		t.Errorf("took %s with --probe-timeout 300ms", took)
	}
}
