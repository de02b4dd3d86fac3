package certs

import (
	"crypto/ecdsa"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStatePermissionsAndAccountReuse(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "acme")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := OpenState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode %v, want 0700 (tightened)", fi.Mode().Perm())
	}
	a, err := s.loadAccount("https://ca.example/dir", "ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.loadAccount("https://ca.example/dir", "ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !a.key.(*ecdsa.PrivateKey).Equal(b.key) {
		t.Error("second load made a new account key instead of reusing the stored one")
	}
	other, _ := s.loadAccount("https://staging.example/dir", "ops@example.com")
	if other.key.(*ecdsa.PrivateKey).Equal(a.key) {
		t.Error("another directory URL shares the account key")
	}
	if _, err := s.LoadCert("none"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadCert of a missing certificate: %v, want fs.ErrNotExist", err)
	}
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", p, fi.Mode().Perm())
		}
		return nil
	})
}

func TestLockExcludesSecondRun(t *testing.T) {
	s, err := OpenState(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Lock()
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Lock() // another open file description: flock conflicts
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid") {
		t.Fatalf("second Lock = %v, want ErrLocked naming the holder's pid", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := s.Lock()
	if err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	l2.Unlock()
}

func TestNewDNSProvider(t *testing.T) {
	if _, err := NewDNSProvider("route53"); err == nil || !strings.Contains(err.Error(), "cloudflare") {
		t.Errorf("unknown provider: %v, want an error listing the built-in ones", err)
	}
	t.Setenv("CLOUDFLARE_DNS_API_TOKEN", "")
	t.Setenv("CF_DNS_API_TOKEN", "")
	t.Setenv("CLOUDFLARE_EMAIL", "")
	t.Setenv("CLOUDFLARE_API_KEY", "")
	if _, err := NewDNSProvider("cloudflare"); err == nil || !strings.Contains(err.Error(), "environment") {
		t.Errorf("cloudflare without credentials: %v, want an error saying to set the environment", err)
	}
	for _, name := range []string{"alidns", "cloudflare", "exec", "httpreq", "rfc2136", "tencentcloud"} {
		if _, ok := dnsProviders[name]; !ok {
			t.Errorf("provider %s is not built in", name)
		}
	}
}

func TestCertName(t *testing.T) {
	for in, want := range map[string]string{"API.example.com": "api.example.com", "*.example.com": "_.example.com"} {
		if got := CertName(in); got != want {
			t.Errorf("CertName(%q) = %q, want %q", in, got, want)
		}
	}
}
