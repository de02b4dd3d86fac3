package remote_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/edgectl/edgectl/internal/sshtest"
	"github.com/edgectl/edgectl/remote"
)

func newPublicKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func line(addr string, k ssh.PublicKey) string {
	return knownhosts.Line([]string{knownhosts.Normalize(addr)}, k) + "\n"
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}

func TestHostKey(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{})
	other := newPublicKey(t)
	v4, v6 := srv.Addrs[0], srv.Addrs[1]
	tests := []struct {
		name      string
		addr      string
		known     string // known_hosts content; "-" for no file
		acceptNew bool
		wantKind  remote.HostKeyKind // "" for success
		wantLine  int
		wantMsg   string
		recorded  bool // the key must be in the file afterwards
	}{
		{name: "known", addr: v4, known: line(v4, srv.HostKey)},
		{name: "known ipv6", addr: v6, known: line(v6, srv.HostKey)},
		{name: "no file", addr: v4, known: "-", wantKind: remote.HostKeyUnknown,
			wantMsg: "is not in {KH} (ED25519 " + srv.HostKeyFingerprint + "); verify the fingerprint, then record it"},
		{name: "other hosts only", addr: v6, known: line(v4, srv.HostKey) + line("[::1]:1", srv.HostKey), wantKind: remote.HostKeyUnknown},
		{name: "unknown accepted", addr: v4, known: "-", acceptNew: true, recorded: true},
		{name: "unknown ipv6 accepted, file without final newline", addr: v6, known: strings.TrimSuffix(line(v4, other), "\n"), acceptNew: true, recorded: true},
		{name: "changed", addr: v4, known: "# comment\n" + line(v6, srv.HostKey) + line(v4, other), wantKind: remote.HostKeyChanged, wantLine: 3,
			wantMsg: "CHANGED (now ED25519 " + srv.HostKeyFingerprint + ", line 3 of {KH} has ED25519 " + ssh.FingerprintSHA256(other) + "); if the host was rebuilt, remove line 3 of {KH}"},
		{name: "changed is never accepted", addr: v6, known: line(v6, other), acceptNew: true, wantKind: remote.HostKeyChanged, wantLine: 1},
		{name: "revoked", addr: v4, known: "@revoked * " + string(ssh.MarshalAuthorizedKey(srv.HostKey)) + line(v4, srv.HostKey), acceptNew: true, wantKind: remote.HostKeyRevoked, wantLine: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kh := filepath.Join(t.TempDir(), "sub", "dir", "known_hosts")
			if tt.known != "-" {
				os.MkdirAll(filepath.Dir(kh), 0o700)
				if err := os.WriteFile(kh, []byte(tt.known), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cfg := srv.Config("edge-1")
			cfg.Addr, cfg.KnownHosts, cfg.AcceptNew = tt.addr, kh, tt.acceptNew
			h, err := remote.DialSSH(t.Context(), cfg)
			if tt.wantKind == "" {
				if err != nil {
					t.Fatalf("DialSSH: %v", err)
				}
				h.Close()
			} else {
				var hke *remote.HostKeyError
				if !errors.As(err, &hke) {
					t.Fatalf("DialSSH: %v, want a *remote.HostKeyError", err)
				}
				if hke.Kind != tt.wantKind || hke.Line != tt.wantLine || hke.Fingerprint != srv.HostKeyFingerprint ||
					hke.Host != "edge-1" || hke.Addr != tt.addr || hke.File != kh {
					t.Errorf("HostKeyError %+v, want kind %s line %d fingerprint %s", *hke, tt.wantKind, tt.wantLine, srv.HostKeyFingerprint)
				}
				want := strings.ReplaceAll(tt.wantMsg, "{KH}", kh)
				if !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "host key for edge-1 ("+tt.addr+")") {
					t.Errorf("message %q\nwant it to contain %q", err, want)
				}
			}
			after := readFile(t, kh)
			if tt.recorded {
				if !strings.HasPrefix(after, tt.known+"\n") && !(tt.known == "-" && after == line(tt.addr, srv.HostKey)) {
					t.Errorf("known_hosts after accept-new:\n%s\nwant the old content, then %s", after, line(tt.addr, srv.HostKey))
				}
				if !strings.HasSuffix(after, line(tt.addr, srv.HostKey)) {
					t.Errorf("known_hosts does not end with the new key:\n%s", after)
				}
				checkMode(t, kh, 0o600)
				checkMode(t, filepath.Dir(kh), 0o700|os.ModeDir)
				cfg.AcceptNew = false
				h, err := remote.DialSSH(t.Context(), cfg)
				if err != nil {
					t.Fatalf("second connect without --accept-new: %v", err)
				}
				h.Close()
			} else if want := tt.known; after != want && !(want == "-" && after == "") {
				t.Errorf("known_hosts changed to:\n%s", after)
			}
		})
	}
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode() != want {
		t.Errorf("%s has mode %v, want %v", path, st.Mode(), want)
	}
}

// TestHostKeyAlgorithms: a host with two key types must offer the one
// known_hosts lists, whichever it is.
func TestHostKeyAlgorithms(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{HostKeyTypes: []string{"ed25519", "ecdsa", "rsa"}})
	for _, k := range srv.HostKeys {
		t.Run(k.Type(), func(t *testing.T) {
			kh := filepath.Join(t.TempDir(), "known_hosts")
			if err := os.WriteFile(kh, []byte(line(srv.Addr, k)), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := srv.Config("edge-1")
			cfg.KnownHosts = kh
			h, err := remote.DialSSH(t.Context(), cfg)
			if err != nil {
				t.Fatalf("known_hosts lists only the %s key: %v", k.Type(), err)
			}
			h.Close()
		})
	}
}

// TestAcceptNewParallel connects to several addresses many times at once
// with --accept-new: every address is recorded exactly once.
func TestAcceptNewParallel(t *testing.T) {
	t.Parallel()
	srvs := []*sshtest.Server{sshtest.Start(t, sshtest.Options{}), sshtest.Start(t, sshtest.Options{})}
	kh := filepath.Join(t.TempDir(), "known_hosts")
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 4 {
		for _, srv := range srvs {
			for _, addr := range srv.Addrs {
				wg.Go(func() {
					cfg := srv.Config(fmt.Sprint("host-", i))
					cfg.Addr, cfg.KnownHosts, cfg.AcceptNew = addr, kh, true
					h, err := remote.DialSSH(t.Context(), cfg)
					if err != nil {
						errs <- err
						return
					}
					h.Close()
				})
			}
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := strings.Split(strings.TrimSpace(readFile(t, kh)), "\n")
	var want []string
	for _, srv := range srvs {
		for _, addr := range srv.Addrs {
			want = append(want, strings.TrimSpace(line(addr, srv.HostKey)))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("known_hosts has %d lines, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for _, w := range want {
		if !strings.Contains(readFile(t, kh), w) {
			t.Errorf("known_hosts lacks %s", w)
		}
	}
}

// TestHostKeyTypeGone: known_hosts has only an ECDSA key, the host now has
// only ED25519: that is a changed key, not a handshake failure.
func TestHostKeyTypeGone(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{})
	pub, err := ssh.ParsePublicKey(newECDSAKey(t))
	if err != nil {
		t.Fatal(err)
	}
	kh := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(kh, []byte(line(srv.Addr, pub)), 0o600)
	cfg := srv.Config("edge-1")
	cfg.KnownHosts, cfg.AcceptNew = kh, true
	_, err = remote.DialSSH(t.Context(), cfg)
	var hke *remote.HostKeyError
	if !errors.As(err, &hke) || hke.Kind != remote.HostKeyChanged || hke.Line != 1 ||
		!strings.Contains(err.Error(), "CHANGED (it offers none of the known key types, line 1 of "+kh+" has ECDSA") {
		t.Fatalf("DialSSH: %v, want a changed host key naming line 1", err)
	}
}

func newECDSAKey(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pub.Marshal()
}
