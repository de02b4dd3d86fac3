package sweep_test

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/edgectl/edgectl/sweep"
	"github.com/edgectl/edgectl/sweep/sweeptest"
)

// The DNS half of a sweep against a real DNS server on loopback; the
// hosts' addresses are unused (nothing listens there and the probes fail
// at once: a host with no address in the lab is refused or unreachable),
// so this needs no root.
func TestSweepDNS(t *testing.T) {
	// 300 A records do not fit a 4096-byte UDP answer: the client must
	// see the truncation and ask again over TCP.
	var many []string
	for i := range 300 {
		many = append(many, fmt.Sprintf("198.18.%d.%d", 1+i/250, 1+i%250))
	}
	srv := sweeptest.StartDNS(t, map[string][]string{
		"api.example.com":  {"127.0.0.1", "198.18.0.99", "::1", "fd00:e:d9e::99"},
		"www.example.com":  {"127.0.0.1"},
		"many.example.com": append([]string{"127.0.0.1"}, many...),
	})
	// A closed port: a resolver that does not answer.
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := pc.LocalAddr().String()
	pc.Close()

	for _, tc := range []struct {
		name       string
		domains    string
		resolver   string // --resolver; fleet.yaml's resolver is srv
		unexpected []string
		unhealthy  []string
		missing    []string
		errPart    string
	}{
		{name: "stale A and AAAA", domains: "[api.example.com]",
			unexpected: []string{"198.18.0.99", "fd00:e:d9e::99"}, unhealthy: []string{"127.0.0.1", "::1"}},
		{name: "two domains, union", domains: "[api.example.com, www.example.com, '*.example.com']",
			unexpected: []string{"198.18.0.99", "fd00:e:d9e::99"}, unhealthy: []string{"127.0.0.1", "::1"}},
		{name: "NXDOMAIN is no records", domains: "[nothing.example.com]"},
		{name: "truncated answer retried over TCP", domains: "[many.example.com]", unexpected: many, unhealthy: []string{"127.0.0.1"}},
		{name: "--resolver overrides", domains: "[api.example.com]", resolver: dead, errPart: "ask " + dead + " for api.example.com A"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yaml := "hosts:\n  - name: lo\n    ipv4: 127.0.0.1\n    ipv6: \"::1\"\n" +
				"domains: " + tc.domains + "\nresolver: \"" + srv.Addr + "\"\n" +
				"acme: {challenge: dns-01, dns_provider: exec}\n" +
				"sweep: {scheme: http, port: 9, timeout: 500ms}\n"
			f := parseFleet(t, yaml)
			rep, err := sweep.Run(t.Context(), f, sweep.Options{Resolver: tc.resolver})
			if err != nil {
				t.Fatal(err)
			}
			d := rep.DNS
			wantList(t, "unexpected", d.Unexpected, tc.unexpected...)
			wantList(t, "unhealthy_in_dns", d.UnhealthyInDNS, tc.unhealthy...)
			wantList(t, "missing", d.Missing, tc.missing...)
			if tc.errPart != "" && !strings.Contains(d.Error, tc.errPart) || tc.errPart == "" && d.Error != "" {
				t.Errorf("dns.error %q, want it to contain %q", d.Error, tc.errPart)
			}
			if rep.Status == sweep.StatusHealthy || d.Status == sweep.StatusOK && tc.errPart != "" {
				t.Errorf("status %s, dns %s", rep.Status, d.Status)
			}
		})
	}
}
