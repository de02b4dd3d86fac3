package remote_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/sshtest"
	"github.com/edgectl/edgectl/remote"
)

func dial(t *testing.T, cfg remote.SSHConfig) *remote.SSH {
	t.Helper()
	h, err := remote.DialSSH(t.Context(), cfg)
	if err != nil {
		t.Fatalf("DialSSH %s: %v", cfg.Addr, err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestRun(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{})
	if len(srv.Addrs) != 2 || !strings.HasPrefix(srv.Addrs[1], "[::1]:") {
		t.Fatalf("default addresses %v, want 127.0.0.1 and [::1]", srv.Addrs)
	}
	tests := []struct {
		name       string
		cmd        string
		stdin      []byte
		wantOut    string
		wantErr    string
		wantStatus int
	}{
		{"stdout", "echo hello", nil, "hello\n", "", 0},
		{"stderr and status", "echo oops >&2; exit 3", nil, "", "oops\n", 3},
		{"stdin", "tr a-z A-Z", []byte("shout"), "SHOUT", "", 0},
		{"shell syntax", "for i in 1 2; do printf $i; done | wc -c", nil, "2\n", "", 0},
		{"signal", "kill -TERM $$", nil, "", "", 128 + 15},
	}
	for _, addr := range srv.Addrs {
		cfg := srv.Config("edge-1")
		cfg.Addr = addr
		h := dial(t, cfg)
		for _, tt := range tests {
			t.Run(addr+"/"+tt.name, func(t *testing.T) {
				res, err := h.Run(t.Context(), tt.cmd, tt.stdin)
				if got := remote.ExitCode(err); tt.wantStatus != 0 && got != tt.wantStatus {
					t.Errorf("exit code %d (err %v), want %d", got, err, tt.wantStatus)
				}
				if tt.wantStatus == 0 && err != nil {
					t.Errorf("err %v", err)
				}
				if res.ExitCode != tt.wantStatus {
					t.Errorf("Result.ExitCode %d, want %d", res.ExitCode, tt.wantStatus)
				}
				if string(res.Stdout) != tt.wantOut || string(res.Stderr) != tt.wantErr {
					t.Errorf("stdout %q stderr %q, want %q %q", res.Stdout, res.Stderr, tt.wantOut, tt.wantErr)
				}
				var ee *remote.ExitError
				if tt.wantStatus != 0 && (!errors.As(err, &ee) || ee.Host != "edge-1") {
					t.Errorf("err %v, want *remote.ExitError naming edge-1", err)
				}
			})
		}
	}
}

func TestRunCancel(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{})
	h := dial(t, srv.Config("edge-1"))
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := h.Run(ctx, "sleep 30", nil)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Fatalf("Run after %v: %v, want context.DeadlineExceeded soon", time.Since(start), err)
	}
	// The connection is still usable.
	res, err := h.Run(t.Context(), "echo ok", nil)
	if err != nil || !bytes.Equal(res.Stdout, []byte("ok\n")) {
		t.Fatalf("Run after a cancelled one: %q, %v", res.Stdout, err)
	}
}

// TestKeepAlive freezes sshd: the keepalive notices and closes the
// connection, so a Run fails instead of hanging.
func TestKeepAlive(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{})
	cfg := srv.Config("edge-1")
	cfg.KeepAlive = 200 * time.Millisecond
	h := dial(t, cfg)
	if _, err := h.Run(t.Context(), "true", nil); err != nil {
		t.Fatal(err)
	}
	srv.Signal(syscall.SIGSTOP)
	defer srv.Signal(syscall.SIGCONT)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	_, err := h.Run(ctx, "true", nil)
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run on a frozen host: %v, want the keepalive to close the connection", err)
	}
}

// TestRunCancelFrozen: a cancelled Run returns even when the host does not
// answer at all (no keepalive to rescue it).
func TestRunCancelFrozen(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{})
	cfg := srv.Config("edge-1")
	cfg.KeepAlive = -1
	h := dial(t, cfg)
	srv.Signal(syscall.SIGSTOP)
	defer srv.Signal(syscall.SIGCONT)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := h.Run(ctx, "true", nil)
		errc <- err
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Run: %v, want context.DeadlineExceeded", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run on a frozen host ignored its context")
	}
}

// TestFilesCancelFrozen: file operations on a host that stopped answering
// return when their context ends.
func TestFilesCancelFrozen(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{})
	cfg := srv.Config("edge-1")
	cfg.KeepAlive = -1
	h := dial(t, cfg)
	if _, err := h.ReadFile(t.Context(), srv.KnownHostsFile); err != nil { // sftp is up
		t.Fatal(err)
	}
	srv.Signal(syscall.SIGSTOP)
	defer srv.Signal(syscall.SIGCONT)
	ops := map[string]func(ctx context.Context) error{
		"read":   func(ctx context.Context) error { _, err := h.ReadFile(ctx, srv.KnownHostsFile); return err },
		"write":  func(ctx context.Context) error { return h.WriteFile(ctx, srv.Dir+"/x", []byte("x"), 0o600) },
		"remove": func(ctx context.Context) error { return h.Remove(ctx, srv.Dir+"/x") },
	}
	for name, op := range ops {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		start := time.Now()
		err := op(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
			t.Errorf("%s on a frozen host: %v after %v, want context.DeadlineExceeded", name, err, time.Since(start))
		}
	}
}
