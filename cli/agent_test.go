package cli

import (
	"bytes"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/buildtest"
	"github.com/edgectl/edgectl/internal/syncbuf"
)

func TestTextHandler(t *testing.T) {
	var b bytes.Buffer
	at := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	rec := func(l slog.Level, msg string, args ...any) slog.Record {
		r := slog.NewRecord(at, l, msg, 0)
		r.Add(args...)
		return r
	}
	var h slog.Handler = newTextHandler(&b, slog.LevelInfo, false)
	h = h.WithAttrs([]slog.Attr{slog.String("upstream", "backend_api")})
	h.Handle(t.Context(), rec(slog.LevelInfo, "listening", "addr", "[::]:80", "tls", false))
	if h.Enabled(t.Context(), slog.LevelDebug) {
		t.Error("debug enabled at info")
	}
	h.WithGroup("peer").Handle(t.Context(), rec(slog.LevelWarn, "server down", "addr", "[::1]:8000", "reason", "connection refused", "empty", ""))
	want := `15:04:05 INFO listening upstream=backend_api addr=[::]:80 tls=false
15:04:05 WARN server down upstream=backend_api peer.addr=[::1]:8000 peer.reason="connection refused" peer.empty=""
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// The agent logs readable lines on a terminal and JSON lines elsewhere, or
// what --log-format says.
func TestAgentLogFormat(t *testing.T) {
	for _, tt := range []struct {
		tty    bool
		format string
		json   bool
	}{
		{false, "auto", true}, {true, "auto", false}, {true, "json", true}, {false, "text", false},
	} {
		ios, _, _, errOut := TestIO()
		ios.SetStderrTTY(tt.tty)
		agentLogger(ios, &GlobalOptions{NoColor: true}, tt.format).Info("agent ready", "pid", 42)
		if got := strings.HasPrefix(errOut.String(), `{"time":`); got != tt.json {
			t.Errorf("tty %v, --log-format %s: %q", tt.tty, tt.format, errOut.String())
		}
	}
}

// TestAgentInterrupts runs the real binary: with nothing configured but a
// listener it warns about nothing; the first Ctrl-C starts the drain
// (30 s here), the second exits at once.
func TestAgentInterrupts(t *testing.T) {
	bin := buildtest.Edgectl(t)
	dir := t.TempDir()
	port := freePort(t)
	cfg := writeFile(t, dir, "agent.yaml", fmt.Sprintf("listen:\n  - addr: \"127.0.0.1:%d\"\nadmin: %s\naccess_log: \"off\"\ndrain: {delay: 30s, timeout: 30s}\n",
		port, filepath.Join(dir, "admin.sock")))
	cmd := exec.Command(bin, "agent", "--config", cfg, "--log-format", "text")
	var errOut syncbuf.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	waitFor(t, &errOut, "agent ready")
	cmd.Process.Signal(syscall.SIGINT)
	waitFor(t, &errOut, "draining")
	start := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
		t.Logf("second Ctrl-C: exited after %s", time.Since(start))
	case <-time.After(5 * time.Second):
		t.Fatalf("still running 5 s after the second Ctrl-C (drain.delay is 30 s):\n%s", errOut.String())
	}
	if strings.Contains(errOut.String(), "WARN") || strings.Contains(errOut.String(), `{"time"`) {
		t.Errorf("a warning, or JSON with --log-format text:\n%s", errOut.String())
	}
}

func waitFor(t *testing.T, b *syncbuf.Buffer, s string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(b.String(), s) {
			return
		}
	}
	t.Fatalf("no %q in:\n%s", s, b.String())
}
