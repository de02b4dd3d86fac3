package remote_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/edgectl/edgectl/internal/sshtest"
	"github.com/edgectl/edgectl/remote"
)

// TestRedialer freezes sshd under a live connection: Check finds the
// connection stalled and cannot dial while the host stays frozen; once it
// answers again Check dials a new connection and commands run on it.
func TestRedialer(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{})
	cfg := srv.Config("edge-1")
	cfg.KeepAlive, cfg.ConnectTimeout = -1, time.Second
	dial := func(ctx context.Context) (remote.Host, error) { return remote.DialSSH(ctx, cfg) }
	first, err := dial(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	r := remote.NewRedialer("edge-1", first, dial)
	defer r.Close()
	if err := r.Check(t.Context(), time.Second); err != nil || r.Redials() != 0 {
		t.Fatalf("Check on a live connection: %v (redials %d)", err, r.Redials())
	}
	srv.Signal(syscall.SIGSTOP)
	err = r.Check(t.Context(), 300*time.Millisecond)
	var te *remote.TransportError
	if !errors.As(err, &te) {
		srv.Signal(syscall.SIGCONT)
		t.Fatalf("Check on a frozen host: %v, want a *remote.TransportError", err)
	}
	srv.Signal(syscall.SIGCONT)
	if err := r.Check(t.Context(), 2*time.Second); err != nil {
		t.Fatalf("Check after the host came back: %v", err)
	}
	res, err := r.Run(t.Context(), "echo back", nil)
	if err != nil || string(res.Stdout) != "back\n" || r.Redials() != 1 {
		t.Fatalf("Run on the new connection: %q, %v (redials %d, want 1)", res.Stdout, err, r.Redials())
	}
	// A command's own failure keeps the connection.
	if _, err := r.Run(t.Context(), "exit 3", nil); remote.ExitCode(err) != 3 || remote.Broken(err) {
		t.Fatalf("exit 3: %v", err)
	}
	if r.Current() == nil {
		t.Fatal("an exit status dropped the connection")
	}
}

func TestBroken(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"exit status", &remote.ExitError{Host: "h", Result: remote.Result{ExitCode: 1}}, false},
		{"missing file", fmt.Errorf("read: %w", fs.ErrNotExist), false},
		{"sftp status", &sftp.StatusError{Code: 4}, false},
		{"refused channel", &ssh.OpenChannelError{Reason: ssh.ConnectionFailed, Message: "Connection refused"}, false},
		{"caller's deadline", fmt.Errorf("run: %w", context.DeadlineExceeded), false},
		{"host key", &remote.HostKeyError{Kind: remote.HostKeyUnknown}, false},
		{"EOF", fmt.Errorf("open session: %w", io.EOF), true},
		{"transport", &remote.TransportError{Host: "h", Err: errors.New("x")}, true},
	}
	for _, tt := range tests {
		if got := remote.Broken(tt.err); got != tt.want {
			t.Errorf("%s: Broken(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

// TestOutputCapped: a command printing more than MaxOutput does not make
// Run hold it all; what is kept ends with the marker.
func TestOutputCapped(t *testing.T) {
	res, err := remote.Local{}.Run(t.Context(), "head -c 3000000 /dev/zero; echo done >&2", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stdout) < remote.MaxOutput || len(res.Stdout) > remote.MaxOutput+200 || !strings.Contains(string(res.Stdout), remote.TruncatedMarker) {
		t.Fatalf("stdout is %d bytes, want the first %d and the marker", len(res.Stdout), remote.MaxOutput)
	}
	if string(res.Stderr) != "done\n" {
		t.Fatalf("stderr %q", res.Stderr)
	}
}

// TestAcceptNewReadOnly: a dry run trusts an unknown host key for its own
// connection, says which, and writes nothing.
func TestAcceptNewReadOnly(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{})
	kh := filepath.Join(t.TempDir(), "known_hosts")
	cfg := srv.Config("edge-1")
	cfg.KnownHosts, cfg.AcceptNew, cfg.KnownHostsReadOnly = kh, true, true
	h := dial(t, cfg)
	if h.AcceptedKey() != srv.HostKeyFingerprint {
		t.Errorf("AcceptedKey %q, want %q", h.AcceptedKey(), srv.HostKeyFingerprint)
	}
	if _, err := os.Stat(kh); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("known_hosts was written by a read-only accept: %v", err)
	}
}

// TestDialUnix reaches a unix socket on the host through the connection.
func TestDialUnix(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{})
	sock := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.WriteString(c, "hello from the socket\n")
			c.Close()
		}
	}()
	h := dial(t, srv.Config("edge-1"))
	c, err := h.DialContext(t.Context(), "unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "hello from the socket\n" {
		t.Fatalf("read %q, %v", b, err)
	}
}

// TestConnectTimeoutNamed: the message names the time that applied (the
// caller's shorter deadline), not the default connect timeout.
func TestConnectTimeoutNamed(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{})
	srv.Signal(syscall.SIGSTOP) // accepts TCP (the kernel does), never answers SSH
	defer srv.Signal(syscall.SIGCONT)
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	_, err := remote.DialSSH(ctx, srv.Config("edge-1"))
	if err == nil || !strings.Contains(err.Error(), "no answer within 1.5s") {
		t.Fatalf("DialSSH with a 1.5s deadline: %v", err)
	}
}
