package certs_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/certs"
	"github.com/edgectl/edgectl/internal/pebbletest"
)

// End-to-end tests: a real Pebble CA and pebble-challtestsrv on loopback,
// real `edgectl agent` processes as the fleet's hosts, real HTTP-01 (and
// DNS-01) validation.
//
// DNS (challtestsrv, which is also the fleet's resolver):
//
//	www.fleet.test  A 127.0.0.1, AAAA ::1    Pebble tries ::1 first: validated through agent "six"
//	v4.fleet.test   A 127.0.0.1              validated through agent "four"
//
// Agent "four" listens on 127.0.0.1 only, agent "six" on [::1] only, both
// on the same HTTP and TLS ports, like two hosts of one fleet. One order
// for both names therefore succeeds only if the token of each name is on
// both agents, which is what the fleet HTTP-01 provider guarantees.

func TestMain(m *testing.M) {
	code := m.Run()
	pebbletest.Cleanup()
	os.Exit(code)
}

var twoAgents = []pebbletest.AgentSpec{{Name: "four", IP: "127.0.0.1"}, {Name: "six", IP: "::1"}}

// newBed starts the CA and both agents with www.fleet.test and, when
// withV4 is set, v4.fleet.test.
func newBed(t *testing.T, validity time.Duration, withV4 bool) *pebbletest.Testbed {
	t.Helper()
	if !pebbletest.HasIPv6() {
		t.Skip("needs IPv6 on loopback ([::1]) for the second agent")
	}
	domains := []string{"www.fleet.test"}
	if withV4 {
		domains = append(domains, "v4.fleet.test")
	}
	tb := pebbletest.NewTestbed(t, pebbletest.TestbedOptions{Agents: twoAgents, Domains: domains, Validity: validity})
	tb.CA.AddA(t, "www.fleet.test", "127.0.0.1")
	tb.CA.AddAAAA(t, "www.fleet.test", "::1")
	if withV4 {
		tb.CA.AddA(t, "v4.fleet.test", "127.0.0.1")
	}
	return tb
}

func config(t *testing.T, tb *pebbletest.Testbed, state string) certs.Config {
	t.Helper()
	st, err := certs.OpenState(state)
	if err != nil {
		t.Fatal(err)
	}
	return certs.Config{
		Fleet: tb.Fleet, State: st, Dial: tb.Dial, HTTPPort: tb.HTTPPort,
		Log: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// served returns the verified leaf the address serves for name.
func served(t *testing.T, tb *pebbletest.Testbed, roots *x509.CertPool, ip, name string) *x509.Certificate {
	t.Helper()
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 3 * time.Second}, Config: &tls.Config{ServerName: name, RootCAs: roots}}
	c, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort(ip, strconv.Itoa(tb.TLSPort)))
	if err != nil {
		t.Fatalf("TLS to %s for %s: %v", ip, name, err)
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0]
}

func TestIssueDistributeRenewStatus(t *testing.T) {
	tb := newBed(t, 0, true)
	state := filepath.Join(t.TempDir(), "state")
	c := config(t, tb, state)

	start := time.Now()
	res, err := certs.Issue(pebbletest.Ctx(t), c)
	if err != nil {
		t.Fatalf("issue: %v", err)
	}
	elapsed := time.Since(start)
	t.Logf("measured: cert issue → every node serving the new certificate: %s (distribution %s); ACME orders for %d nodes: %d (pebble counted %d)",
		elapsed.Round(time.Millisecond), res.Distribution.Elapsed.Round(time.Millisecond), len(tb.Agents), res.Orders, tb.CA.Orders())
	if res.Orders != 1 || tb.CA.Orders() != 1 {
		t.Errorf("orders: client %d, pebble %d; want 1 for the whole fleet", res.Orders, tb.CA.Orders())
	}
	if len(res.Distribution.Addrs) != 2 || !res.Distribution.OK() {
		t.Errorf("distribution = %+v, want both addresses serving the new serial", res.Distribution)
	}
	// Every host address serves the new certificate, chaining to
	// Pebble's root, for both names.
	roots := tb.CA.IssuerRoots(t)
	for _, a := range tb.Agents {
		for _, name := range []string{"www.fleet.test", "v4.fleet.test"} {
			if got := served(t, tb, roots, a.IP, name).SerialNumber.Text(16); got != res.Serial {
				t.Errorf("%s serves %s for %s, want %s", a.Name, got, name, res.Serial)
			}
		}
		// Tokens are gone, the key is 0600.
		if ents, _ := os.ReadDir(filepath.Join(a.Root, pebbletest.ACMEDir)); len(ents) != 0 {
			t.Errorf("%s: tokens left in the challenge dir: %v", a.Name, ents)
		}
		fi, err := os.Stat(filepath.Join(a.Root, pebbletest.CertsDir, "www.fleet.test", certs.KeyFile))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: privkey.pem: %v, mode %v; want 0600", a.Name, err, fi.Mode())
		}
	}
	checkStatePerms(t, state)

	// renew on a fresh 90-day certificate does nothing.
	rr, err := certs.Renew(pebbletest.Ctx(t), c, false)
	if err != nil || rr.Renewed || tb.CA.Orders() != 1 {
		t.Fatalf("renew of a fresh certificate: renewed=%v err=%v orders=%d; want nothing done", rr != nil && rr.Renewed, err, tb.CA.Orders())
	}
	t.Logf("renew: %s", rr.Reason)

	st, err := certs.Status(pebbletest.Ctx(t), c)
	if err != nil || !st.OK() || st.DaysLeft < 88 || st.Issuer == "" {
		t.Fatalf("status = %+v, %v; want every address ok, ~89 days left", st, err)
	}

	// Keep the first pair, renew by force, then give agent six the old
	// pair back: status must single it out.
	certDir := filepath.Join(state, "certificates", "www.fleet.test")
	oldChain, _ := os.ReadFile(filepath.Join(certDir, certs.ChainFile))
	oldKey, _ := os.ReadFile(filepath.Join(certDir, certs.KeyFile))
	rr, err = certs.Renew(pebbletest.Ctx(t), c, true)
	if err != nil || !rr.Renewed || rr.Serial == res.Serial || rr.Orders != 1 {
		t.Fatalf("renew --force: %+v, %v", rr, err)
	}
	if !rr.AccountReused {
		t.Error("renew registered a new account instead of reusing the stored one")
	}
	six := filepath.Join(tb.Agent("six").Root, pebbletest.CertsDir, "www.fleet.test")
	writeFile(t, filepath.Join(six, certs.KeyFile), oldKey)
	writeFile(t, filepath.Join(six, certs.ChainFile), oldChain)
	deadline := time.Now().Add(15 * time.Second)
	for served(t, tb, roots, "::1", "www.fleet.test").SerialNumber.Text(16) != res.Serial {
		if time.Now().After(deadline) {
			t.Fatal("agent six did not load the old certificate")
		}
		time.Sleep(100 * time.Millisecond)
	}
	st, err = certs.Status(pebbletest.Ctx(t), c)
	if err != nil {
		t.Fatal(err)
	}
	stale := st.Stale()
	if st.OK() || len(stale) != 1 || stale[0].Host != "six" || stale[0].Serial != res.Serial || !stale[0].Stale {
		t.Fatalf("status after giving six the old certificate: %+v; want exactly six stale with serial %s", st.Addrs, res.Serial)
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

func checkStatePerms(t *testing.T, dir string) {
	t.Helper()
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRenewShortLived(t *testing.T) {
	tb := newBed(t, 90*time.Second, false)
	c := config(t, tb, filepath.Join(t.TempDir(), "state"))
	res, err := certs.Issue(pebbletest.Ctx(t), c)
	if err != nil {
		t.Fatalf("issue: %v", err)
	}
	rr, err := certs.Renew(pebbletest.Ctx(t), c, false)
	if err != nil {
		t.Fatalf("renew: %v", err)
	}
	if !rr.Renewed || rr.Serial == res.Serial || !rr.Distribution.OK() {
		t.Fatalf("renew of a 90 s certificate: %+v; want renewed and distributed", rr)
	}
	t.Logf("renewed because: %s", rr.Reason)
	if tb.CA.Orders() != 2 {
		t.Errorf("pebble counted %d orders, want 2 (issue + renew)", tb.CA.Orders())
	}
}

func TestPreflightAgentDown(t *testing.T) {
	tb := newBed(t, 0, true)
	c := config(t, tb, filepath.Join(t.TempDir(), "state"))
	tb.Agent("six").Stop()
	res, err := certs.Issue(pebbletest.Ctx(t), c)
	var pe *certs.PreflightError
	if !errors.As(err, &pe) {
		t.Fatalf("issue with agent six down: err = %v, want a pre-flight error", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "six") || !strings.Contains(msg, "::1") || !strings.Contains(msg, "refused") {
		t.Errorf("pre-flight error does not name host six, ::1 and the refusal:\n%s", msg)
	}
	if strings.Contains(msg, "four") {
		t.Errorf("pre-flight blames host four, which is up:\n%s", msg)
	}
	if res.Orders != 0 || tb.CA.Orders() != 0 {
		t.Errorf("orders placed: client %d, pebble %d; want none", res.Orders, tb.CA.Orders())
	}
	t.Logf("pre-flight report:\n%s", msg)
}
