package remote_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/edgectl/edgectl/internal/sshtest"
	"github.com/edgectl/edgectl/remote"
)

func TestJump(t *testing.T) {
	t.Parallel()
	jump := sshtest.Start(t, sshtest.Options{Addrs: []string{"::1"}})
	target := sshtest.Start(t, sshtest.Options{})
	// One identity file for both, as with a fleet's ssh.identity_file.
	if err := jump.Authorize(target.ClientKey.PublicKey()); err != nil {
		t.Fatal(err)
	}
	both := readFile(t, jump.KnownHostsFile) + readFile(t, target.KnownHostsFile)
	tests := []struct {
		name     string
		known    string
		wantHost string // "" for success, else the HostKeyError's Host
	}{
		{"both keys known", both, ""},
		{"jump key unknown", readFile(t, target.KnownHostsFile), "jump host of edge-1"},
		{"target key unknown", readFile(t, jump.KnownHostsFile), "edge-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kh := filepath.Join(t.TempDir(), "known_hosts")
			if err := os.WriteFile(kh, []byte(tt.known), 0o600); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var dialled []string
			cfg := target.Config("edge-1")
			cfg.KnownHosts = kh
			cfg.Jump = jump.User + "@" + jump.Addr
			cfg.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				mu.Lock()
				dialled = append(dialled, addr)
				mu.Unlock()
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			}
			h, err := remote.DialSSH(t.Context(), cfg)
			if len(dialled) != 1 || dialled[0] != jump.Addr {
				t.Errorf("dialled %v directly, want only the jump host %s", dialled, jump.Addr)
			}
			if tt.wantHost != "" {
				var hke *remote.HostKeyError
				if !errors.As(err, &hke) || hke.Kind != remote.HostKeyUnknown || hke.Host != tt.wantHost {
					t.Fatalf("DialSSH: %v, want an unknown host key for %s", err, tt.wantHost)
				}
				return
			}
			if err != nil {
				t.Fatalf("DialSSH through %s: %v", cfg.Jump, err)
			}
			defer h.Close()
			res, err := h.Run(t.Context(), "echo $SSH_CONNECTION", nil)
			if err != nil {
				t.Fatal(err)
			}
			// The target sees the connection come from the jump host's
			// sshd, to its own address.
			if want := portOf(target.Addr); !containsField(string(res.Stdout), want) {
				t.Errorf("SSH_CONNECTION %q does not name the target port %s", res.Stdout, want)
			}
			if err := h.WriteFile(t.Context(), filepath.Join(t.TempDir(), "f"), []byte("x"), 0o600); err != nil {
				t.Errorf("WriteFile through the jump host: %v", err)
			}
		})
	}
}

func containsField(s, f string) bool {
	return slices.Contains(strings.Fields(s), f)
}
