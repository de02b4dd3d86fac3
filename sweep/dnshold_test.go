package sweep

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/dnssync/dnssynctest"
	"github.com/edgectl/edgectl/fleet"
)

// TestSweepDNSLeavesDeploysAlone: sweep --dns neither adds
// back the records a deploy took out of DNS nor removes those of a host
// whose deploy restarts it; a deploy past its maximum time is down again.
// An address failing its first sweep is not added either (a host a deploy
// left out after its gate failed stays out).
func TestSweepDNSLeavesDeploysAlone(t *testing.T) {
	f := &fleet.Fleet{
		Hosts: []fleet.Host{{Name: "vps1", IPv4: "198.18.0.11", IPv6: "fd00:e:d9e::11"}, {Name: "vps2", IPv4: "198.18.0.12", IPv6: "fd00:e:d9e::12"}},
		DNS:   &fleet.DNS{Provider: "rfc2136", Zone: "example.test", Names: []string{"api.example.test"}, TTL: 60, MinHealthy: 1, MaxRemove: "100%"},
	}
	all := []string{"api.example.test A 198.18.0.11 60", "api.example.test A 198.18.0.12 60", "api.example.test AAAA fd00:e:d9e::11 60", "api.example.test AAAA fd00:e:d9e::12 60"}
	vps2Only := "A 198.18.0.12 60, AAAA fd00:e:d9e::12 60"
	deploy := &DeployInfo{Source: "health", AgeMS: 4000, MaxMS: 60000}
	overdue := &DeployInfo{Source: "lock", Holder: "ops@laptop", AgeMS: 70000, MaxMS: 60000, Overdue: true}
	for _, tc := range []struct {
		name   string
		out    bool // vps1's records are out of DNS
		ok     bool // vps1's probes pass
		deploy *DeployInfo
		want   string
		held   string
		after  int // fail_after
	}{
		{"drained by a deploy, healthy: not put back", true, true, deploy, vps2Only, "deploying (4s of at most 1m0s)", 1},
		{"in DNS, restarting for a deploy: not removed", false, false, deploy, strings.Join(trim(all), ", "), "deploying (4s of at most 1m0s)", 1},
		{"deploy past its maximum: down, removed", false, false, overdue, vps2Only, "", 1},
		{"left out after a failed gate, failing: not added", true, false, nil, vps2Only, "failed this sweep, not down yet (sweep.fail_after)", 2},
		{"left out, healthy again: added", true, true, nil, strings.Join(trim(all), ", "), "", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs := all
			if tc.out {
				recs = []string{all[1], all[3]}
			}
			z := dnssynctest.New(recs...)
			tg := func(addr string) Target {
				if tc.ok {
					return Target{Status: StatusOK, Address: addr}
				}
				return Target{Status: StatusFail, Address: addr, Kind: "refused", Error: "connection refused"}
			}
			r := &Report{Hosts: []HostReport{
				{Name: "vps1", IPv4: tg("198.18.0.11:80"), IPv6: tg("[fd00:e:d9e::11]:80"), Deploy: tc.deploy},
				{Name: "vps2", IPv4: Target{Status: StatusOK, Address: "198.18.0.12:80"}, IPv6: Target{Status: StatusOK, Address: "[fd00:e:d9e::12]:80"}},
			}, DNS: DNSReport{Status: StatusSkip}}
			r.finish()
			s := NewState()
			now := time.Now()
			s.Update(r, tc.after, 1, now)
			act, _ := s.ActDNS(context.Background(), z, f, r, nil, now)
			if act.Error != "" {
				t.Fatal(act.Error)
			}
			if got := z.String(); got != tc.want {
				t.Fatalf("records %s, want %s", got, tc.want)
			}
			var held []string
			for _, a := range s.StateAddrs(f, r, nil) {
				if a.Host == "vps1" {
					held = append(held, a.Hold)
				}
			}
			if held[0] != tc.held || held[1] != tc.held {
				t.Fatalf("vps1 held %q, want %q", held, tc.held)
			}
		})
	}
}

// trim drops the names of "NAME TYPE ADDRESS TTL" lines, as Zone.String
// lists records.
func trim(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		_, out[i], _ = strings.Cut(l, " ")
	}
	return out
}

// TestDeployingHostNotMissing: a deploying host absent from DNS (taken out
// by rollout.dns_drain) is not reported as a healthy address missing from
// DNS; once its deploy is over, it is.
func TestDeployingHostNotMissing(t *testing.T) {
	for _, deploying := range []bool{true, false} {
		rep := &DNSReport{Domains: []DomainReport{{Name: "api.example.test", A: []string{"198.18.0.12"}}}}
		compareDNS(rep, map[netip.Addr]fleetAddr{
			netip.MustParseAddr("198.18.0.11"): {healthy: true, deploying: deploying},
			netip.MustParseAddr("198.18.0.12"): {healthy: true},
		})
		if got := len(rep.Missing); (got == 0) != deploying {
			t.Errorf("deploying %v: missing %v", deploying, rep.Missing)
		}
	}
}
