package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/remote"
	"github.com/edgectl/edgectl/remote/remotetest"
)

// selfSigned is a certificate for names and its key, in PEM.
func selfSigned(t *testing.T, serial int64, names ...string) (chain, key []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(60 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func TestCertImport(t *testing.T) {
	dir := t.TempDir()
	fleetFile := filepath.Join(dir, "fleet.yaml")
	if err := os.WriteFile(fleetFile, []byte("hosts:\n  - {name: cn2-sh, ipv4: 198.18.0.11}\n  - {name: cn2-bj, ipv4: 198.18.0.12}\ndomains: [newapi.example.com]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	roots := map[string]string{"cn2-sh": t.TempDir(), "cn2-bj": t.TempDir()}
	chain, key := selfSigned(t, 0xabc, "newapi.example.com")
	acme := filepath.Join(roots["cn2-sh"], "root/.acme.sh/newapi.example.com_ecc")
	if err := os.MkdirAll(acme, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"fullchain.cer": chain, "newapi.example.com.key": key} {
		if err := os.WriteFile(filepath.Join(acme, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(roots["cn2-sh"], "var/spool/cron/crontabs"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(roots["cn2-sh"], "var/spool/cron/crontabs/root"), []byte("27 0 * * * \"/root/.acme.sh\"/acme.sh --cron --home \"/root/.acme.sh\" > /dev/null\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(dryRun, js bool) (string, int) {
		ios, _, out, _ := TestIO()
		opts := &certImportOptions{File: fleetFile, DryRun: dryRun, JSON: js, IO: ios,
			Dial: func(_ context.Context, h fleet.Host) (remote.Host, error) {
				return remotetest.Rooted(remote.Local{}, roots[h.Name], h.Name), nil
			}}
		err := certImportRun(context.Background(), opts)
		if err != nil {
			out.WriteString("edgectl: " + err.Error() + "\n")
		}
		return out.String(), exitCode(err)
	}
	out, code := run(true, true)
	var rep struct {
		DryRun bool `json:"dry_run"`
		Hosts  []struct {
			Host         string
			Missing      []string
			Certificates []struct {
				Serial, Source string
				InstalledTo    string `json:"installed_to"`
				Chosen         bool
			}
			Renewals []struct{ Tool, Where string }
		}
	}
	if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if code != ExitPartial || !rep.DryRun || len(rep.Hosts) != 2 || rep.Hosts[0].Certificates[0].Serial != "abc" || rep.Hosts[0].Certificates[0].InstalledTo != "" ||
		strings.Join(rep.Hosts[1].Missing, ",") != "newapi.example.com" || rep.Hosts[0].Renewals[0].Where != "crontab of root" {
		t.Errorf("--dry-run --json: exit %d\n%s", code, out)
	}
	if strings.Contains(out, "PRIVATE KEY") {
		t.Fatal("the report holds a private key")
	}
	out, code = run(false, false)
	for _, want := range []string{
		"cn2-sh:\n  ok    newapi.example.com: acme.sh /root/.acme.sh/newapi.example.com_ecc, serial abc, issuer newapi.example.com, expires ",
		"installed in /etc/edgectl/certs/newapi.example.com/\n  renew acme.sh still renews from crontab of root: 27 0 * * *",
		"cn2-bj:\n  fail  newapi.example.com: no usable certificate found (acme.sh, certbot)\n",
		"edgectl: 1 of 2 hosts have a usable certificate for every domain",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if code != ExitPartial {
		t.Errorf("exit %d, want %d", code, ExitPartial)
	}
	got, err := os.ReadFile(filepath.Join(roots["cn2-sh"], "etc/edgectl/certs/newapi.example.com/privkey.pem"))
	if err != nil || !bytes.Equal(got, key) {
		t.Errorf("installed key: %v", err)
	}
}
