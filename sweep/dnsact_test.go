package sweep

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/edgectl/edgectl/dnsrecords"
	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/internal/bindtest"
)

// TestActDNSAgainstBIND: sweeps with fail_after 2 and recover_after 2
// remove a failed address from a real BIND after two failures (its AAAA
// only when only IPv6 fails), keep the last one of a family when all fail, put it back
// after two passes, and alert each change and each refusal once.
func TestActDNSAgainstBIND(t *testing.T) {
	srv := bindtest.Start(t, bindtest.Options{Records: []string{
		"api 60 IN A 198.18.0.11", "api 60 IN AAAA fd00:e:d9e::11", "api 60 IN A 198.18.0.12", "api 60 IN AAAA fd00:e:d9e::12",
	}})
	env := srv.Env()
	p, err := dnsrecords.New(dnsrecords.Config{Provider: "rfc2136", Zone: srv.Zone, Nameserver: srv.Addr,
		Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	f := &fleet.Fleet{
		Hosts: []fleet.Host{{Name: "vps1", IPv4: "198.18.0.11", IPv6: "fd00:e:d9e::11"}, {Name: "vps2", IPv4: "198.18.0.12", IPv6: "fd00:e:d9e::12"}},
		DNS:   &fleet.DNS{Provider: "rfc2136", Zone: srv.Zone, Names: []string{"api.example.test"}, TTL: 60, MinHealthy: 1, MaxRemove: "100%"},
	}
	sweepOnce := func(v4a, v6a, v4b bool) *Report {
		tg := func(ok bool, addr string) Target {
			if ok {
				return Target{Status: StatusOK, Address: addr}
			}
			return Target{Status: StatusFail, Address: addr, Kind: "refused", Error: "connection refused"}
		}
		return &Report{Hosts: []HostReport{
			{Name: "vps1", IPv4: tg(v4a, "198.18.0.11:80"), IPv6: tg(v6a, "[fd00:e:d9e::11]:80")},
			{Name: "vps2", IPv4: tg(v4b, "198.18.0.12:80"), IPv6: tg(v4b, "[fd00:e:d9e::12]:80")},
		}, DNS: DNSReport{Status: StatusSkip}}
	}
	s := NewState()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	lookup := func() string {
		return strings.Join(append(srv.Lookup(t, "api.example.test", dns.TypeA), srv.Lookup(t, "api.example.test", dns.TypeAAAA)...), " ")
	}
	for i, step := range []struct {
		v4a, v6a, v4b bool
		records       string
		alerts        string
	}{
		{true, false, true, "198.18.0.11 198.18.0.12 fd00:e:d9e::11 fd00:e:d9e::12", ""},
		{true, false, true, "198.18.0.11 198.18.0.12 fd00:e:d9e::12", "address down; dns_change removed"},
		{false, false, false, "198.18.0.11 198.18.0.12 fd00:e:d9e::12", ""},
		{false, false, false, "198.18.0.12 fd00:e:d9e::12", "address down; address down; address down; dns_change removed; dns_refused refused; dns_refused refused"},
		{false, false, false, "198.18.0.12 fd00:e:d9e::12", ""},
		{true, true, true, "198.18.0.12 fd00:e:d9e::12", ""},
		{true, true, true, "198.18.0.11 198.18.0.12 fd00:e:d9e::11 fd00:e:d9e::12",
			"address recovered; address recovered; address recovered; address recovered; dns_change added; dns_change added; dns_refused cleared; dns_refused cleared"},
		{true, true, true, "198.18.0.11 198.18.0.12 fd00:e:d9e::11 fd00:e:d9e::12", ""},
	} {
		now = now.Add(time.Minute)
		r := sweepOnce(step.v4a, step.v6a, step.v4b)
		alerts := s.Update(r, 2, 2, now)
		act, more := s.ActDNS(ctx, p, f, r, nil, now)
		if act.Error != "" {
			t.Fatalf("sweep %d: %s", i+1, act.Error)
		}
		var got []string
		for _, a := range append(alerts, more...) {
			got = append(got, a.Kind+" "+a.Status)
		}
		s.Deliver(ctx, nil)
		if g := lookup(); g != step.records {
			t.Fatalf("sweep %d: BIND serves %s, want %s", i+1, g, step.records)
		}
		if strings.Join(got, "; ") != step.alerts {
			t.Fatalf("sweep %d: alerts %q, want %q", i+1, strings.Join(got, "; "), step.alerts)
		}
	}
	if len(s.DNSLog) != 4 || s.DNSLog[0].Record != "api.example.test AAAA fd00:e:d9e::11" || s.DNSLog[0].Op != "remove" {
		t.Fatalf("DNS log %+v", s.DNSLog)
	}
}
