package sweep

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/dnsrecords"
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

// TestSweepDNSRemembersDeploys: a sweep that lands between the old agent
// and the new one (nothing answers), or after the new one answers but
// before the deploy marks it again, finds the host unmarked with its
// records still out: an earlier sweep saw the deploy, so the failure is
// no outage (fail_after 1: no alert) and the records are not put back.
// Once the deploy put them back (or its maximum time passed) the host is
// followed as any other again.
func TestSweepDNSRemembersDeploys(t *testing.T) {
	f := &fleet.Fleet{
		Hosts: []fleet.Host{{Name: "vps1", IPv4: "198.18.0.11"}, {Name: "vps2", IPv4: "198.18.0.12"}},
		DNS:   &fleet.DNS{Provider: "rfc2136", Zone: "example.test", Names: []string{"api.example.test"}, TTL: 60, MinHealthy: 1, MaxRemove: "100%"},
	}
	z := dnssynctest.New("api.example.test A 198.18.0.12 60") // vps1 taken out by its deploy
	s := NewState()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ok := Target{Status: StatusOK, Address: "198.18.0.12:80"}
	for i, step := range []struct {
		what    string
		deploy  *DeployInfo
		restore bool // the deploy puts vps1 back before this sweep
		drop    bool // vps1's record goes (by hand) before this sweep
		fail    bool // vps1's probe fails (nothing answers)
		after   time.Duration
		want    string
	}{
		{"deploying: left alone", &DeployInfo{Source: "health", AgeMS: 5000, MaxMS: 65000}, false, false, false, 0, "A 198.18.0.12 60"},
		{"between two agents, unmarked: not an outage", nil, false, false, true, 5 * time.Second, "A 198.18.0.12 60"},
		{"new agent answers unmarked: still not put back", nil, false, false, false, 5 * time.Second, "A 198.18.0.12 60"},
		{"the deploy put it back: nothing to do", nil, true, false, false, 10 * time.Second, "A 198.18.0.11 60, A 198.18.0.12 60"},
		{"removed by hand later: followed again, put back", nil, false, true, false, 10 * time.Second, "A 198.18.0.11 60, A 198.18.0.12 60"},
		{"seen deploying again, records out", &DeployInfo{Source: "health", AgeMS: 1000, MaxMS: 30000}, false, true, false, 10 * time.Second, "A 198.18.0.12 60"},
		{"past the deploy's maximum: put back", nil, false, false, false, 40 * time.Second, "A 198.18.0.11 60, A 198.18.0.12 60"},
	} {
		now = now.Add(step.after)
		ctx := context.Background()
		if step.restore {
			z.Add(ctx, dnsrecordsA("198.18.0.11"))
		}
		if step.drop {
			z.Delete(ctx, dnsrecordsA("198.18.0.11"))
		}
		t1 := Target{Status: StatusOK, Address: "198.18.0.11:80"}
		if step.fail {
			t1 = Target{Status: StatusFail, Address: "198.18.0.11:80", Kind: "refused", Error: "connection refused"}
		}
		r := &Report{Hosts: []HostReport{
			{Name: "vps1", IPv4: t1, IPv6: Target{Status: StatusSkip}, Deploy: step.deploy},
			{Name: "vps2", IPv4: ok, IPv6: Target{Status: StatusSkip}},
		}, DNS: DNSReport{Status: StatusSkip}}
		r.finish()
		if alerts := s.Update(r, 1, 2, now); len(alerts) != 0 || (step.fail && (r.Status != StatusHealthy || r.Hosts[0].IPv4.Status != StatusDeploying)) {
			t.Fatalf("sweep %d (%s): alerts %+v, sweep %s, vps1 %s: a deploy's restart is no outage", i+1, step.what, alerts, r.Status, r.Hosts[0].IPv4.Status)
		}
		if act, _ := s.ActDNS(ctx, z, f, r, nil, now); act.Error != "" {
			t.Fatal(act.Error)
		}
		if got := z.String(); got != step.want {
			t.Fatalf("sweep %d (%s): records %s, want %s (remembered deploys %v)", i+1, step.what, got, step.want, s.Deploys)
		}
	}
}

func dnsrecordsA(addr string) dnsrecords.Record {
	return dnsrecords.Record{Name: "api.example.test", Type: dnsrecords.TypeA, Addr: netip.MustParseAddr(addr), TTL: 60}
}
