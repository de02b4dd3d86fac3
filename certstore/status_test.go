package certstore

import (
	"bytes"
	"crypto/tls"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// breakages turn a good pair in dir/name into a broken one.
var breakages = []struct {
	name    string
	apply   func(t *testing.T, dir string, other pair)
	wantErr string
}{
	{"unparsable certificate", func(t *testing.T, dir string, _ pair) {
		writeFile(t, filepath.Join(dir, ChainFile), []byte("-----BEGIN CERTIFICATE-----\ngarbage\n"), 0o644)
	}, "failed to find any PEM data in certificate input"},
	{"unparsable key", func(t *testing.T, dir string, _ pair) {
		writeFile(t, filepath.Join(dir, KeyFile), []byte("not a key"), 0o600)
	}, "failed to find any PEM data in key input"},
	{"key of another certificate", func(t *testing.T, dir string, other pair) {
		writeFile(t, filepath.Join(dir, KeyFile), other.key, 0o600)
	}, "private key does not match public key"},
	{"missing key", func(t *testing.T, dir string, _ pair) {
		if err := os.Remove(filepath.Join(dir, KeyFile)); err != nil {
			t.Fatal(err)
		}
	}, "privkey.pem is missing"},
	{"empty certificate", func(t *testing.T, dir string, _ pair) {
		writeFile(t, filepath.Join(dir, ChainFile), nil, 0o644)
	}, "fullchain.pem is empty"},
}

func TestBrokenPairNextToGoodOne(t *testing.T) {
	for _, b := range breakages {
		t.Run(b.name, func(t *testing.T) {
			ca := newCA(t)
			dir := t.TempDir()
			good := ca.issue(t, 0x70, valid, "a.example.com")
			writePair(t, dir, "b-good", good)
			// "a-broken" sorts first, yet it must not become the default.
			writePair(t, dir, "a-broken", ca.issue(t, 0x71, valid, "other.test"))
			b.apply(t, filepath.Join(dir, "a-broken"), good)

			s := open(t, dir)
			srv := serve(t, s)
			for _, sni := range []string{"a.example.com", "other.test", ""} {
				srv.eventually(t, ca, sni, good.serial, 0)
			}
			st := s.Status()
			if len(st) != 2 {
				t.Fatalf("Status = %+v, want two entries", st)
			}
			broken, ok := st[0], st[1]
			if broken.Name != "a-broken" || broken.Serving || !strings.Contains(broken.Error, b.wantErr) {
				t.Errorf("broken entry = %+v, want not serving with error containing %q", broken, b.wantErr)
			}
			if ok.Name != "b-good" || !ok.Serving || ok.Error != "" || ok.Serial != good.serial {
				t.Errorf("good entry = %+v, want serving serial %s without error", ok, good.serial)
			}
		})
	}
}

func TestGoodPairBecomesBroken(t *testing.T) {
	for _, b := range breakages {
		for _, p := range pickups {
			t.Run(b.name+"/"+p.name, func(t *testing.T) {
				ca := newCA(t)
				dir := t.TempDir()
				good := ca.issue(t, 0x80, valid, "a.example.com")
				writePair(t, dir, "site", good)
				s := open(t, dir)
				p.start(t, s)
				srv := serve(t, s)

				b.apply(t, filepath.Join(dir, "site"), ca.issue(t, 0x81, valid, "other.test"))
				p.after(t, s)
				deadline := time.Now().Add(within)
				for !s.Status()[0].Stale && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				st := s.Status()[0]
				if !st.Stale || !st.Serving || st.Serial != good.serial || !strings.Contains(st.Error, b.wantErr) {
					t.Fatalf("Status = %+v, want the last good serial %s, stale, error containing %q",
						st, good.serial, b.wantErr)
				}
				srv.eventually(t, ca, "a.example.com", good.serial, 0)

				fixed := ca.issue(t, 0x82, valid, "a.example.com")
				writePair(t, dir, "site", fixed)
				p.after(t, s)
				srv.eventually(t, ca, "a.example.com", fixed.serial, within)
				if st := s.Status()[0]; st.Stale || st.Error != "" {
					t.Errorf("Status after the fix = %+v, want no longer stale", st)
				}
			})
		}
	}
}

func TestOnlyBrokenPairsExplainTheFailure(t *testing.T) {
	ca := newCA(t)
	dir := t.TempDir()
	writePair(t, dir, "site", ca.issue(t, 0x90, valid, "a.example.com"))
	breakages[2].apply(t, filepath.Join(dir, "site"), ca.issue(t, 0x91, valid, "other.test"))
	_, err := open(t, dir).GetCertificate(&tls.ClientHelloInfo{ServerName: "a.example.com"})
	want := "no certificate in " + dir + " that loads (site: load fullchain.pem and privkey.pem: " +
		"tls: private key does not match public key); fix the files or run edgectl cert issue"
	if err == nil || err.Error() != want || !errors.Is(err, ErrNoCertificate) {
		t.Errorf("GetCertificate error %v, want %q", err, want)
	}
}

func TestExpiredCertificateServesFlagged(t *testing.T) {
	ca := newCA(t)
	dir := t.TempDir()
	notAfter := time.Now().Add(-time.Hour).Truncate(time.Second)
	old := ca.issue(t, 0xa0, notAfter, "a.example.com")
	writePair(t, dir, "site", old)
	s := open(t, dir)
	serve(t, s).eventually(t, ca, "a.example.com", old.serial, 0)

	st := s.Status()[0]
	wantErr := "expired " + notAfter.UTC().Format(time.RFC3339) + "; run edgectl cert renew"
	if !st.Expired || !st.Serving || st.Error != wantErr || !st.NotAfter.Equal(notAfter) {
		t.Errorf("Status = %+v, want serving, expired, error %q", st, wantErr)
	}
	if st.Issuer != "CN=edgectl test CA" || len(st.DNSNames) != 1 || st.DNSNames[0] != "a.example.com" {
		t.Errorf("Status = %+v, want issuer and DNS names of the certificate", st)
	}
}

func TestPrivateKeyModes(t *testing.T) {
	ca := newCA(t)
	for _, tt := range []struct {
		name          string
		key, dir, top os.FileMode
	}{
		{"key 0600 in a 0700 directory", 0o600, 0o700, 0o755},
		{"key 0400 in a 0500 directory", 0o400, 0o500, 0o750},
		{"key 0640", 0o640, 0o750, 0o750},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			site := ca.issue(t, 0xb0, valid, "a.example.com")
			writePair(t, dir, "site", site)
			for path, mode := range map[string]os.FileMode{
				filepath.Join(dir, "site", KeyFile): tt.key, filepath.Join(dir, "site"): tt.dir, dir: tt.top,
			} {
				if err := os.Chmod(path, mode); err != nil {
					t.Fatal(err)
				}
			}
			t.Cleanup(func() { os.Chmod(filepath.Join(dir, "site"), 0o755) })
			s := open(t, dir)
			if st := s.Status(); len(st) != 1 || st[0].Error != "" {
				t.Fatalf("Status = %+v, want the pair loaded without error", st)
			}
			serve(t, s).eventually(t, ca, "a.example.com", site.serial, 0)
		})
	}
}

func TestNoCertificateLogRateLimit(t *testing.T) {
	var buf bytes.Buffer
	s, err := Open(t.TempDir(), slog.New(slog.NewTextHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, step := range []struct {
		name     string
		at       time.Duration
		wantLogs int
	}{
		{"first failure is logged", 0, 1},
		{"repeat within 30s is not", 10 * time.Second, 1},
		{"nor just before 30s", 29 * time.Second, 1},
		{"after 30s it is again", 31 * time.Second, 2},
		{"then quiet again", 40 * time.Second, 2},
	} {
		s.now = func() time.Time { return start.Add(step.at) }
		if _, err := s.GetCertificate(&tls.ClientHelloInfo{ServerName: "a.example.com"}); err == nil {
			t.Fatalf("%s: GetCertificate succeeded with no certificate", step.name)
		}
		if got := strings.Count(buf.String(), "TLS handshake failed"); got != step.wantLogs {
			t.Errorf("%s: %d handshake failures logged, want %d", step.name, got, step.wantLogs)
		}
	}
	if !strings.Contains(buf.String(), "run edgectl cert issue") {
		t.Errorf("log does not say what to do:\n%s", buf.String())
	}
}
