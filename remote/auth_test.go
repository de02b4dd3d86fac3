package remote_test

import (
	"crypto/ed25519"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/edgectl/edgectl/internal/sshtest"
	"github.com/edgectl/edgectl/remote"
)

// writeKey writes a new ed25519 private key (encrypted when passphrase is
// not "") and returns its path and public key.
func writeKey(t *testing.T, passphrase string) (string, ssh.PublicKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return path, pub
}

func TestAuth(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{})
	unauthorized, _ := writeKey(t, "")
	encrypted, encPub := writeKey(t, "s3cret")
	if err := srv.Authorize(encPub); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "nope")
	pass := func(p string) func(string) ([]byte, error) {
		return func(string) ([]byte, error) { return []byte(p), nil }
	}
	tests := []struct {
		name       string
		identity   string
		passphrase func(string) ([]byte, error)
		wantErr    []string // nil: login works
	}{
		{name: "identity file", identity: srv.IdentityFile},
		{name: "key not authorized", identity: unauthorized, wantErr: []string{
			"log in to edge-1 (" + srv.Addr + ") as " + srv.User + ": the server accepted none of the keys offered (identity file " + unauthorized,
			"add the public key to ~" + srv.User + "/.ssh/authorized_keys"}},
		{name: "missing identity file", identity: missing, wantErr: []string{"identity file " + missing + " does not exist", "ssh-keygen"}},
		{name: "no key at all", identity: "", wantErr: []string{"no key to log in with"}},
		{name: "encrypted without passphrase prompt", identity: encrypted, wantErr: []string{"identity file " + encrypted + " is encrypted: load it into ssh-agent (ssh-add " + encrypted + ")"}},
		{name: "encrypted with passphrase", identity: encrypted, passphrase: pass("s3cret")},
		{name: "encrypted, wrong passphrase", identity: encrypted, passphrase: pass("guess"), wantErr: []string{"identity file " + encrypted + ": wrong passphrase"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := srv.Config("edge-1")
			cfg.IdentityFile, cfg.Passphrase = tt.identity, tt.passphrase
			h, err := remote.DialSSH(t.Context(), cfg)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("DialSSH: %v", err)
				}
				h.Close()
				return
			}
			if err == nil {
				h.Close()
				t.Fatal("DialSSH worked, want an error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

// TestAgent logs in with a key held only by a real ssh-agent.
func TestAgent(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"ssh-agent", "ssh-add"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: apt-get install openssh-client", tool)
		}
	}
	srv := sshtest.Start(t, sshtest.Options{})
	sock := filepath.Join(t.TempDir(), "agent.sock")
	agentCmd := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := agentCmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agentCmd.Process.Kill(); agentCmd.Wait() })
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("ssh-agent socket %s: %v", sock, err)
		}
	}
	agentKey, agentPub := writeKey(t, "")
	add := exec.Command("ssh-add", agentKey)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v: %s", err, out)
	}
	unauthorized, _ := writeKey(t, "")
	tests := []struct {
		name      string
		identity  string
		authorize bool
		wantErr   string
	}{
		{name: "agent key not authorized", identity: "", wantErr: "(1 ssh-agent key(s))"},
		{name: "agent only", identity: "", authorize: true},
		{name: "missing default identity is fine with an agent", identity: filepath.Join(t.TempDir(), "id_ed25519"), authorize: true},
		{name: "identity refused, agent accepted", identity: unauthorized, authorize: true},
	}
	for _, tt := range tests {
		if tt.authorize {
			if err := srv.Authorize(agentPub); err != nil {
				t.Fatal(err)
			}
		}
		cfg := srv.Config("edge-1")
		cfg.IdentityFile, cfg.Agent = tt.identity, sock
		h, err := remote.DialSSH(t.Context(), cfg)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: err %v, want it to contain %q", tt.name, err, tt.wantErr)
		}
		if h != nil {
			h.Close()
		}
	}
	cfg := srv.Config("edge-1")
	cfg.Agent = filepath.Join(t.TempDir(), "gone.sock")
	if _, err := remote.DialSSH(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "SSH_AUTH_SOCK") {
		t.Errorf("dead agent socket: %v, want an error naming SSH_AUTH_SOCK", err)
	}
}
