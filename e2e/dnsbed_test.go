package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/edgectl/edgectl/internal/bindtest"
	"github.com/edgectl/edgectl/internal/testbed"
)

// dnsBed is a real BIND, primary of fleet.test, in a network namespace of
// its own on the testbed bridge (the hosts and this machine both reach
// it), updated over RFC 2136 with TSIG. It starts with an A and an AAAA
// record of name for every address of the fleet.
type dnsBed struct {
	name string
	svc  *testbed.Service
	bind *bindtest.Server
	// env is this process's environment plus the TSIG variables of the
	// rfc2136 provider, for edgectl runs that change the records.
	env []string
	dig string
}

// startDNSBed starts the server (records with TTL ttl) for t; it skips t
// when dig is missing (it confirms what BIND serves).
func startDNSBed(t *testing.T, b *testbed.Bed, name string, ttl int) *dnsBed {
	t.Helper()
	dig, err := exec.LookPath("dig")
	if err != nil {
		t.Skip("dig is not installed (apt-get install bind9-dnsutils): it confirms what BIND serves")
	}
	svc, err := b.AddService(53)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := svc.Close(); err != nil {
			t.Error(err)
		}
	})
	label := strings.TrimSuffix(name, ".fleet.test")
	var zone []string
	for _, h := range b.Hosts {
		if h.IPv4 != "" {
			zone = append(zone, fmt.Sprintf("%s %d IN A %s", label, ttl, h.IPv4))
		}
		if h.IPv6 != "" {
			zone = append(zone, fmt.Sprintf("%s %d IN AAAA %s", label, ttl, h.IPv6))
		}
	}
	bind := bindtest.Start(t, bindtest.Options{Zone: "fleet.test", Listen: []string{svc.IPv4, svc.IPv6}, Port: 53, Netns: svc.Netns, Records: zone})
	env := os.Environ()
	for k, v := range bind.Env() {
		env = append(env, k+"="+v)
	}
	return &dnsBed{name: name, svc: svc, bind: bind, env: env, dig: dig}
}

// fleetDNS is fleet.yaml's resolver: and dns: for this server (ttl of
// added records, min_healthy 1, max_remove 33%).
func (d *dnsBed) fleetDNS(ttl int) string {
	return fmt.Sprintf("resolver: %q\ndns:\n  provider: rfc2136\n  zone: fleet.test\n  nameserver: %q\n  ttl: %d\n  min_healthy: 1\n  max_remove: 33%%\n",
		d.bind.Addr, d.bind.Addr, ttl)
}

// served is what dig gets from BIND: name's A and AAAA addresses, sorted.
func (d *dnsBed) served(t *testing.T) string {
	t.Helper()
	var all []string
	for _, typ := range []string{"A", "AAAA"} {
		out, err := exec.Command(d.dig, "+short", "+time=2", "@"+d.svc.IPv4, "-p", "53", d.name, typ).Output()
		if err != nil {
			t.Fatalf("dig %s %s: %v", d.name, typ, err)
		}
		all = append(all, strings.Fields(string(out))...)
	}
	sort.Strings(all)
	return strings.Join(all, " ")
}

// secretIn reports whether out shows the TSIG secret.
func (d *dnsBed) secretIn(out string) bool { return strings.Contains(out, d.bind.Secret) }
