package sshtest_test

import (
	"net"
	"os"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/edgectl/edgectl/internal/sshtest"
)

// TestServers starts several servers at once and logs in to every address
// of each with plain x/crypto/ssh, checking the host key with the server's
// known_hosts file.
func TestServers(t *testing.T) {
	tests := []struct {
		name  string
		opts  sshtest.Options
		types []string
	}{
		{"default", sshtest.Options{}, []string{ssh.KeyAlgoED25519}},
		{"ipv6 only, two key types", sshtest.Options{Addrs: []string{"::1"}, HostKeyTypes: []string{"ecdsa", "ed25519"}}, []string{ssh.KeyAlgoECDSA256, ssh.KeyAlgoED25519}},
		{"second default", sshtest.Options{}, []string{ssh.KeyAlgoED25519}},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		srv := sshtest.Start(t, tt.opts)
		for i, k := range srv.HostKeys {
			if k.Type() != tt.types[i] {
				t.Errorf("%s: host key %d is %s, want %s", tt.name, i, k.Type(), tt.types[i])
			}
		}
		cb, err := knownhosts.New(srv.KnownHostsFile)
		if err != nil {
			t.Fatal(err)
		}
		for _, addr := range srv.Addrs {
			if seen[addr] {
				t.Errorf("%s: address %s used twice", tt.name, addr)
			}
			seen[addr] = true
			c, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{
				User:              srv.User,
				Auth:              []ssh.AuthMethod{ssh.PublicKeys(srv.ClientKey)},
				HostKeyCallback:   cb,
				HostKeyAlgorithms: []string{srv.HostKey.Type()},
			})
			if err != nil {
				t.Fatalf("%s: %s: %v\n%s", tt.name, addr, err, srv.Log())
			}
			sess, err := c.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			out, err := sess.Output("id -un")
			if err != nil || strings.TrimSpace(string(out)) != srv.User {
				t.Errorf("%s: id -un = %q, %v; want %s", tt.name, out, err, srv.User)
			}
			c.Close()
		}
		if st, err := os.Stat(srv.IdentityFile); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("identity file: %v, %v; want mode 0600", st.Mode(), err)
		}
	}
}

// TestStopped checks that the server is gone once its test has ended.
func TestStopped(t *testing.T) {
	var addr string
	t.Run("server", func(t *testing.T) {
		addr = sshtest.Start(t, sshtest.Options{}).Addr
	})
	if addr == "" {
		t.Skip("server test skipped")
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after the test ended", addr)
	}
}
