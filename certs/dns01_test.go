package certs_test

import (
	"path/filepath"
	"testing"

	"github.com/edgectl/edgectl/certs"
	"github.com/edgectl/edgectl/internal/pebbletest"
)

// TestDNS01Exec issues a wildcard certificate through real DNS-01
// validation: lego's exec provider runs testdata/dns-hook.sh, which sets
// the TXT record in challtestsrv; Pebble's VA and the propagation check
// query it there. The certificate is then served by both agents.
func TestDNS01Exec(t *testing.T) {
	if !pebbletest.HasIPv6() {
		t.Skip("needs IPv6 on loopback ([::1]) for the second agent")
	}
	domains := []string{"dns.fleet.test", "*.dns.fleet.test"}
	tb := pebbletest.NewTestbed(t, pebbletest.TestbedOptions{
		Agents: twoAgents, Domains: domains, Challenge: "dns-01", DNSProvider: "exec",
	})
	hook, err := filepath.Abs("testdata/dns-hook.sh")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("CHALLTESTSRV", tb.CA.ChallManagement)
	t.Setenv("EXEC_PATH", hook)
	t.Setenv("EXEC_PROPAGATION_TIMEOUT", "30")
	t.Setenv("EXEC_POLLING_INTERVAL", "1")
	t.Setenv("EXEC_SEQUENCE_INTERVAL", "1")

	c := config(t, tb, filepath.Join(t.TempDir(), "state"))
	res, err := certs.Issue(pebbletest.Ctx(t), c)
	if err != nil {
		t.Fatalf("issue with dns-01: %v", err)
	}
	if res.Orders != 1 || res.Preflight != nil {
		t.Errorf("orders %d, preflight %+v; want 1 order and no HTTP pre-flight", res.Orders, res.Preflight)
	}
	roots := tb.CA.IssuerRoots(t)
	for _, a := range tb.Agents {
		for _, name := range []string{"dns.fleet.test", "anything.dns.fleet.test"} {
			if got := served(t, tb, roots, a.IP, name).SerialNumber.Text(16); got != res.Serial {
				t.Errorf("%s serves %s for %s, want %s", a.Name, got, name, res.Serial)
			}
		}
	}
}
