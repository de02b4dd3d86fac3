package certs

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/agentconfig"
	"github.com/edgectl/edgectl/certstore"
	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/internal/sshtest"
	"github.com/edgectl/edgectl/remote"
	"github.com/edgectl/edgectl/remote/remotetest"
)

// importCA issues the certificates the import tests put on disk.
type importCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  []byte
}

func newImportCA(t *testing.T) *importCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Import Test CA"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &importCA{cert: c, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a full chain and its key in PEM: ECDSA keys as acme.sh's
// _ecc layout has them, RSA (PKCS#1) otherwise.
func (ca *importCA) issue(t *testing.T, serial int64, rsaKey bool, notAfter time.Time, names ...string) (chain, key []byte) {
	t.Helper()
	var pub crypto.PublicKey
	if rsaKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		pub, key = &k.PublicKey, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	} else {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, _ := x509.MarshalECPrivateKey(k)
		pub, key = &k.PublicKey, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: notAfter.Add(-90 * 24 * time.Hour), NotAfter: notAfter, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), ca.pem...), key
}

// put writes files under a host's root (0600 like the tools write keys).
func put(t *testing.T, root string, files map[string][]byte) {
	t.Helper()
	for p, data := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// TestImportExisting puts acme.sh's and certbot's layouts with real
// certificates on four "hosts" (directories behind remote.Rooted) and
// imports them: the certificate that expires last and is valid is
// installed into certs_dir with the modes distribution gives (the agent's
// certificate store serves it), expired, mismatched and foreign ones are
// reported and skipped, and the cron entries and timers that still renew
// are listed.
func TestImportExisting(t *testing.T) {
	ca := newImportCA(t)
	now := time.Now()
	roots := map[string]string{}
	for _, n := range []string{"acme", "certbot", "broken", "deploy"} {
		roots[n] = t.TempDir()
	}
	t.Setenv("HOME", "/home/deploy") // the login user's home on every host

	// acme.sh as root: an ECDSA certificate (_ecc) and an expired RSA one.
	later := now.Add(80 * 24 * time.Hour)
	ecc, eccKey := ca.issue(t, 0x1ecc, false, later, "example.test", "www.example.test")
	old, oldKey := ca.issue(t, 0x01d, true, now.Add(-time.Hour), "example.test")
	put(t, roots["acme"], map[string][]byte{
		"root/.acme.sh/example.test_ecc/fullchain.cer":    ecc,
		"root/.acme.sh/example.test_ecc/example.test.key": eccKey,
		"root/.acme.sh/example.test/fullchain.cer":        old,
		"root/.acme.sh/example.test/example.test.key":     oldKey,
		"root/.acme.sh/account.conf":                      []byte("ACCOUNT_EMAIL='ops@example.test'\n"),
		"var/spool/cron/crontabs/root":                    []byte("# m h dom mon dow command\n27 0 * * * \"/root/.acme.sh\"/acme.sh --cron --home \"/root/.acme.sh\" > /dev/null\n"),
	})
	// certbot: live/ symlinks into archive/, renewed once; a cron.d entry
	// and the enabled timer.
	certbotLayout(t, ca, roots["certbot"], now)
	// broken: the key of another certificate, and a certificate for
	// another name.
	_, otherKey := ca.issue(t, 0xbad, false, later, "example.test")
	foreign, foreignKey := ca.issue(t, 0xf0, false, later, "other.test")
	put(t, roots["broken"], map[string][]byte{
		"root/.acme.sh/example.test_ecc/fullchain.cer":    ecc,
		"root/.acme.sh/example.test_ecc/example.test.key": otherKey,
		"root/.acme.sh/other.test_ecc/fullchain.cer":      foreign,
		"root/.acme.sh/other.test_ecc/other.test.key":     foreignKey,
	})
	// acme.sh installed by the login user, not root.
	dep, depKey := ca.issue(t, 0xde9, true, later, "example.test", "www.example.test")
	put(t, roots["deploy"], map[string][]byte{
		"home/deploy/.acme.sh/example.test/fullchain.cer":    dep,
		"home/deploy/.acme.sh/example.test/example.test.key": depKey,
	})

	fl := &fleet.Fleet{Domains: []string{"example.test", "www.example.test"}, Agent: agentconfig.Config{TLS: agentconfig.TLS{CertsDir: "/etc/edgectl/certs"}}}
	for _, n := range []string{"acme", "certbot", "broken", "deploy"} {
		fl.Hosts = append(fl.Hosts, fleet.Host{Name: n})
	}
	dial := func(_ context.Context, h fleet.Host) (remote.Host, error) {
		return remotetest.Rooted(remote.Local{}, roots[h.Name], h.Name), nil
	}
	ctx := context.Background()

	// A dry run finds and checks, and writes nothing.
	res, err := ImportExisting(ctx, ImportConfig{Fleet: fl, Dial: dial, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range roots {
		if _, err := os.Stat(filepath.Join(r, "etc/edgectl")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("a dry run wrote into %s: %v", r, err)
		}
	}
	if c := chosen(res, "acme", "example.test"); c == nil || c.Serial != "1ecc" || c.InstalledTo != "" {
		t.Errorf("dry run, acme: %+v", c)
	}

	res, err = ImportExisting(ctx, ImportConfig{Fleet: fl, Dial: dial, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct{ serial, source, dir string }{
		"acme":    {"1ecc", SourceAcmeSh, "/root/.acme.sh/example.test_ecc"},
		"certbot": {"cb2", SourceCertbot, "/etc/letsencrypt/live/example.test"},
		"deploy":  {"de9", SourceAcmeSh, "/home/deploy/.acme.sh/example.test"},
	}
	for host, w := range want {
		h := hostImport(res, host)
		for _, d := range fl.Domains {
			c := chosen(res, host, d)
			if c == nil || c.Serial != w.serial || c.Source != w.source || c.Dir != w.dir || c.InstalledTo != "/etc/edgectl/certs/example.test/" {
				t.Errorf("%s %s: chose %+v, want serial %s from %s %s", host, d, c, w.serial, w.source, w.dir)
			}
		}
		if !h.OK() {
			t.Errorf("%s: %+v", host, h)
		}
		dir := filepath.Join(roots[host], "etc/edgectl/certs/example.test")
		checkInstalled(t, dir, "example.test", w.serial)
		checkInstalled(t, dir, "www.example.test", w.serial)
		if entries, _ := os.ReadDir(filepath.Join(roots[host], "etc/edgectl/certs/.edgectl-staging/example.test")); len(entries) != 0 {
			t.Errorf("%s: staging left %v", host, entries)
		}
	}
	// A second run installs the same certificate again; a newer one in
	// certs_dir (renewed by edgectl) is never replaced by an older one.
	again, err := ImportExisting(ctx, ImportConfig{Fleet: fl, Dial: dial})
	if err != nil {
		t.Fatal(err)
	}
	if c := chosen(again, "acme", "example.test"); c == nil || c.Kept != "" || c.InstalledTo == "" {
		t.Errorf("second run: %+v", c)
	}
	newer, newerKey := ca.issue(t, 0x2e7, false, later.Add(24*time.Hour), "example.test", "www.example.test")
	put(t, roots["deploy"], map[string][]byte{"etc/edgectl/certs/example.test/fullchain.pem": newer, "etc/edgectl/certs/example.test/privkey.pem": newerKey})
	again, err = ImportExisting(ctx, ImportConfig{Fleet: fl, Dial: dial})
	if err != nil {
		t.Fatal(err)
	}
	if c := chosen(again, "deploy", "example.test"); c == nil || c.Kept != "2e7" {
		t.Errorf("a newer certificate in certs_dir: %+v", c)
	}
	checkInstalledSerial(t, filepath.Join(roots["deploy"], "etc/edgectl/certs/example.test"), "example.test", "2e7")
	// The expired acme.sh certificate is reported, not chosen.
	if f := findSerial(res, "acme", "1d"); f == nil || !strings.HasPrefix(f.Problem, "expired on ") || f.Chosen {
		t.Errorf("the expired certificate: %+v", f)
	}
	// broken: nothing usable, and the reason is given.
	b := hostImport(res, "broken")
	if b.OK() || strings.Join(b.Missing, ",") != "example.test,www.example.test" {
		t.Errorf("broken: %+v", b)
	}
	if f := findSerial(res, "broken", "1ecc"); f == nil || !strings.Contains(f.Problem, "does not match the certificate") {
		t.Errorf("the mismatched key: %+v", f)
	}
	if f := findSerial(res, "broken", "f0"); f != nil {
		t.Errorf("a certificate for other.test is listed for the fleet's domains: %+v", f)
	}
	if _, err := os.Stat(filepath.Join(roots["broken"], "etc/edgectl/certs/example.test")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("broken: something was installed: %v", err)
	}
	// Renewals still set up.
	if got := renewalText(hostImport(res, "acme")); got != `acme.sh|crontab of root|27 0 * * * "/root/.acme.sh"/acme.sh --cron --home "/root/.acme.sh" > /dev/null|` {
		t.Errorf("acme renewals: %s", got)
	}
	if got := renewalText(hostImport(res, "certbot")); got != "certbot|/etc/cron.d/certbot|0 */12 * * * root test -x /usr/bin/certbot -a \\! -d /run/systemd/system && perl -e 'sleep int(rand(43200))' && certbot -q renew|runs only where systemd is not PID 1 (certbot.timer renews otherwise)\n"+
		"certbot|certbot.timer|enabled (timers.target.wants)|" {
		t.Errorf("certbot renewals: %s", got)
	}
}

// checkInstalled loads dir with the agent's certificate store and checks
// the serial it serves for name, and the files' modes.
func checkInstalled(t *testing.T, dir, name, serial string) {
	t.Helper()
	for f, mode := range map[string]fs.FileMode{ChainFile: 0o644, KeyFile: 0o600} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", f, st.Mode().Perm(), mode)
		}
	}
	checkInstalledSerial(t, dir, name, serial)
}

// checkInstalledSerial checks the serial the agent's store serves for name.
func checkInstalledSerial(t *testing.T, dir, name, serial string) {
	t.Helper()
	store, err := certstore.Open(filepath.Dir(dir), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c, err := store.GetCertificate(&tls.ClientHelloInfo{ServerName: name})
	if err != nil {
		t.Fatalf("the agent's store serves nothing for %s: %v", name, err)
	}
	leaf, _ := x509.ParseCertificate(c.Certificate[0])
	if got := leaf.SerialNumber.Text(16); got != serial {
		t.Errorf("the agent would serve serial %s for %s, want %s", got, name, serial)
	}
}

func hostImport(res *ImportResult, host string) *HostImport {
	for i := range res.Hosts {
		if res.Hosts[i].Host == host {
			return &res.Hosts[i]
		}
	}
	return &HostImport{}
}

func chosen(res *ImportResult, host, domain string) *Found {
	for _, f := range hostImport(res, host).Found {
		if f.Domain == domain && f.Chosen {
			return &f
		}
	}
	return nil
}

func findSerial(res *ImportResult, host, serial string) *Found {
	for _, f := range hostImport(res, host).Found {
		if f.Serial == serial {
			return &f
		}
	}
	return nil
}

func renewalText(h *HostImport) string {
	var l []string
	for _, r := range h.Renewals {
		l = append(l, r.Tool+"|"+r.Where+"|"+r.Line+"|"+r.Note)
	}
	return strings.Join(l, "\n")
}

// certbotLayout puts certbot's files under root: live/ symlinks into
// archive/ after one renewal (serial cb2 current, cb1 before it), its
// cron.d entry and its enabled timer.
func certbotLayout(t *testing.T, ca *importCA, root string, now time.Time) {
	t.Helper()
	soon, later := now.Add(30*24*time.Hour), now.Add(80*24*time.Hour)
	cb1, cb1Key := ca.issue(t, 0xcb1, true, soon, "example.test", "www.example.test")
	cb2, cb2Key := ca.issue(t, 0xcb2, true, later, "example.test", "www.example.test")
	put(t, root, map[string][]byte{
		"etc/letsencrypt/archive/example.test/fullchain1.pem": cb1,
		"etc/letsencrypt/archive/example.test/privkey1.pem":   cb1Key,
		"etc/letsencrypt/archive/example.test/fullchain2.pem": cb2,
		"etc/letsencrypt/archive/example.test/privkey2.pem":   cb2Key,
		"etc/letsencrypt/live/README":                         []byte("This directory contains your keys and certificates.\n"),
		"etc/cron.d/certbot":                                  []byte("SHELL=/bin/sh\n0 */12 * * * root test -x /usr/bin/certbot -a \\! -d /run/systemd/system && perl -e 'sleep int(rand(43200))' && certbot -q renew\n"),
		"lib/systemd/system/certbot.timer":                    []byte("[Timer]\nOnCalendar=*-*-* 00,12:00:00\n"),
	})
	symlink(t, "../../archive/example.test/fullchain2.pem", filepath.Join(root, "etc/letsencrypt/live/example.test/fullchain.pem"))
	symlink(t, "../../archive/example.test/privkey2.pem", filepath.Join(root, "etc/letsencrypt/live/example.test/privkey.pem"))
	symlink(t, "/lib/systemd/system/certbot.timer", filepath.Join(root, "etc/systemd/system/timers.target.wants/certbot.timer"))
}

// TestImportExistingOverSSH reads certbot's symlinked files and writes
// certs_dir through a real sshd (SFTP), as on a fleet host, on a
// connection a deploy already holds (ImportOnHost).
func TestImportExistingOverSSH(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{Addrs: []string{"::1"}})
	root := t.TempDir()
	certbotLayout(t, newImportCA(t), root, time.Now())
	fl := &fleet.Fleet{Domains: []string{"example.test"}, Hosts: []fleet.Host{{Name: "edge-1"}},
		Agent: agentconfig.Config{TLS: agentconfig.TLS{CertsDir: "/etc/edgectl/certs"}}}
	dial := func(ctx context.Context, h fleet.Host) (remote.Host, error) {
		s, err := remote.DialSSH(ctx, srv.Config(h.Name))
		if err != nil {
			return nil, err
		}
		return remotetest.Rooted(s, root, h.Name), nil
	}
	rh, err := dial(context.Background(), fl.Hosts[0])
	if err != nil {
		t.Fatal(err)
	}
	defer rh.Close()
	hi, err := ImportOnHost(context.Background(), ImportConfig{Fleet: fl}, fl.Hosts[0], rh)
	if err != nil {
		t.Fatal(err)
	}
	res := &ImportResult{Hosts: []HostImport{hi}}
	if c := chosen(res, "edge-1", "example.test"); c == nil || c.Serial != "cb2" || c.InstalledTo == "" {
		t.Fatalf("over SSH: %+v", hi)
	}
	// The connection is still usable: ImportOnHost does not close it.
	if _, err := rh.Run(context.Background(), "true", nil); err != nil {
		t.Fatalf("the connection was closed: %v", err)
	}
	checkInstalled(t, filepath.Join(root, "etc/edgectl/certs/example.test"), "example.test", "cb2")
	if got := len(hostImport(res, "edge-1").Renewals); got != 2 {
		t.Errorf("renewals over SSH: %+v", hostImport(res, "edge-1").Renewals)
	}
}

func TestParseRenewals(t *testing.T) {
	out := "@@crontab deploy\n# acme.sh --cron in a comment\n0 3 * * * /home/deploy/.acme.sh/acme.sh --cron --home /home/deploy/.acme.sh\n" +
		"@@crontab of the login user\n0 3 * * * /home/deploy/.acme.sh/acme.sh --cron --home /home/deploy/.acme.sh\n" +
		"@@file crontab\n17 * * * * root cd / && run-parts --report /etc/cron.hourly\n" +
		"@@cron.d backup\n0 1 * * * root /usr/local/bin/backup\n" +
		"@@timer snap.certbot.renew.timer\n@@timer apt-daily.timer\n"
	got := parseRenewals(out)
	want := []Renewal{
		{Tool: SourceAcmeSh, Where: "crontab of deploy", Line: "0 3 * * * /home/deploy/.acme.sh/acme.sh --cron --home /home/deploy/.acme.sh"},
		{Tool: SourceCertbot, Where: "snap.certbot.renew.timer", Line: "enabled (timers.target.wants)"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}
