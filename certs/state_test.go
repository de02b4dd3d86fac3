package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// TestCorruptStateFilesMovedAside: a meta.json or account.json that is
// not JSON is kept as <file>.corrupt-<time>; the certificate's metadata is
// rebuilt from its chain and the account keeps its key, so a cron run
// does not fail on it again and again.
func TestCorruptStateFilesMovedAside(t *testing.T) {
	s, err := OpenState(filepath.Join(t.TempDir(), "acme"))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(77), Subject: pkix.Name{CommonName: "api.example.com"},
		DNSNames: []string{"api.example.com", "www.example.com"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	chain := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := s.SaveCert(CertMeta{Name: "api.example.com", Domains: []string{"api.example.com"}}, chain, []byte("key")); err != nil {
		t.Fatal(err)
	}
	meta := filepath.Join(s.certDir("api.example.com"), metaFile)
	if err := os.WriteFile(meta, []byte("{\"name\": tru"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := s.LoadCert("api.example.com")
	if err != nil {
		t.Fatalf("LoadCert of a corrupt meta.json: %v", err)
	}
	if !strings.Contains(c.Recovered, "moved it to "+meta+".corrupt-") || c.Meta.Serial != "4d" || len(c.Meta.Domains) != 2 {
		t.Errorf("recovered %q, meta %+v", c.Recovered, c.Meta)
	}
	if again, err := s.LoadCert("api.example.com"); err != nil || again.Recovered != "" {
		t.Errorf("the rebuilt meta.json does not load cleanly: %v %q", err, again.Recovered)
	}

	a, err := s.loadAccount("https://ca.example/dir", "ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.saveAccount(a); err != nil {
		t.Fatal(err)
	}
	acct := filepath.Join(s.accountDir("https://ca.example/dir", "ops@example.com"), "account.json")
	_ = os.WriteFile(acct, []byte("garbage"), 0o600)
	b, err := s.loadAccount("https://ca.example/dir", "ops@example.com")
	if err != nil || !b.key.(*ecdsa.PrivateKey).Equal(a.key) {
		t.Fatalf("account with a corrupt account.json: %v", err)
	}
	if aside, _ := filepath.Glob(acct + ".corrupt-*"); len(aside) != 1 {
		t.Errorf("account.json not kept aside: %v", aside)
	}
}
