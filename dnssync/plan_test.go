package dnssync

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/edgectl/edgectl/dnsrecords"
	"github.com/edgectl/edgectl/fleet"
)

const name = "api.example.test"

// recs parses "A 192.0.2.1 60, AAAA 2001:db8::1 60".
func recs(s string) []dnsrecords.Record {
	var out []dnsrecords.Record
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		var typ, addr string
		var ttl int
		fmt.Sscan(f, &typ, &addr, &ttl)
		out = append(out, dnsrecords.Record{Name: name, Type: typ, Addr: netip.MustParseAddr(addr), TTL: ttl})
	}
	return out
}

// addrs parses "h1 192.0.2.1 up, h2 2001:db8::2 down, h3 192.0.2.3 hold".
func addrs(s string) []Addr {
	var out []Addr
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		var host, addr, verdict string
		fmt.Sscan(f, &host, &addr, &verdict)
		a := netip.MustParseAddr(addr)
		x := Addr{Host: host, Family: family(a), Addr: a, Want: verdict == "up"}
		if verdict == "down" {
			x.Why = "connection refused"
		}
		if verdict == "hold" {
			x.Hold = "deploying"
		}
		out = append(out, x)
	}
	return out
}

// brief is a plan as "+A 192.0.2.1 60; -AAAA 2001:db8::1; !min_healthy A
// 192.0.2.3; ~A 203.0.113.9; =h3; w".
func brief(np NamePlan) string {
	var parts []string
	for _, c := range np.Changes {
		if c.Op == OpAdd {
			parts = append(parts, fmt.Sprintf("+%s %s %d", c.Record.Type, c.Record.Addr, c.Record.TTL))
		} else {
			parts = append(parts, fmt.Sprintf("-%s %s", c.Record.Type, c.Record.Addr))
		}
	}
	for _, r := range np.Refused {
		parts = append(parts, fmt.Sprintf("!%s %s %s", r.Rule, r.Record.Type, r.Record.Addr))
	}
	for _, r := range np.Drift {
		parts = append(parts, fmt.Sprintf("~%s %s", r.Type, r.Addr))
	}
	for _, h := range np.Held {
		parts = append(parts, "="+h.Host)
	}
	for range np.Warnings {
		parts = append(parts, "w")
	}
	return strings.Join(parts, "; ")
}

func TestCompute(t *testing.T) {
	pol := func(minHealthy int, maxRemove string, prune bool) Policy {
		return PolicyOf(&fleet.DNS{MinHealthy: minHealthy, MaxRemove: maxRemove, TTL: 60}, prune)
	}
	for _, tc := range []struct {
		name    string
		current string
		addrs   string
		pol     Policy
		want    string
	}{
		{"in sync", "A 192.0.2.1 60, A 192.0.2.2 60", "h1 192.0.2.1 up, h2 192.0.2.2 up", pol(1, "33%", false), ""},
		{"empty name gets every healthy address, dns.ttl", "", "h1 192.0.2.1 up, h1 2001:db8::1 up, h2 192.0.2.2 down",
			pol(1, "33%", false), "+A 192.0.2.1 60; +AAAA 2001:db8::1 60"},
		{"an added record takes its set's TTL", "A 192.0.2.1 120", "h1 192.0.2.1 up, h2 192.0.2.2 up", pol(1, "33%", false), "+A 192.0.2.2 120"},
		{"a failed address leaves", "A 192.0.2.1 60, A 192.0.2.2 60, A 192.0.2.3 60", "h1 192.0.2.1 up, h2 192.0.2.2 down, h3 192.0.2.3 up",
			pol(1, "33%", false), "-A 192.0.2.2"},
		{"an IPv6 failure removes only the AAAA", "A 192.0.2.1 60, AAAA 2001:db8::1 60, A 192.0.2.2 60, AAAA 2001:db8::2 60",
			"h1 192.0.2.1 up, h1 2001:db8::1 down, h2 192.0.2.2 up, h2 2001:db8::2 up", pol(1, "33%", false), "-AAAA 2001:db8::1"},
		{"all down: the last min_healthy stay", "A 192.0.2.1 60, A 192.0.2.2 60, A 192.0.2.3 60",
			"h1 192.0.2.1 down, h2 192.0.2.2 down, h3 192.0.2.3 down", pol(1, "100%", false), "-A 192.0.2.1; -A 192.0.2.2; !min_healthy A 192.0.2.3"},
		{"min_healthy 2 of 2", "A 192.0.2.1 60, A 192.0.2.2 60", "h1 192.0.2.1 down, h2 192.0.2.2 up", pol(2, "100%", false), "!min_healthy A 192.0.2.1"},
		{"min_healthy 0 lets a family empty", "AAAA 2001:db8::1 60", "h1 2001:db8::1 down", pol(0, "100%", false), "-AAAA 2001:db8::1"},
		{"a healthy replacement counts before removals", "A 192.0.2.1 60", "h1 192.0.2.1 down, h2 192.0.2.2 up", pol(1, "100%", false), "+A 192.0.2.2 60; -A 192.0.2.1"},
		{"max_remove 33% of 6", "A 192.0.2.1 60, A 192.0.2.2 60, A 192.0.2.3 60, A 192.0.2.4 60, A 192.0.2.5 60, A 192.0.2.6 60",
			"h1 192.0.2.1 down, h2 192.0.2.2 down, h3 192.0.2.3 down, h4 192.0.2.4 up, h5 192.0.2.5 up, h6 192.0.2.6 up",
			pol(1, "33%", false), "-A 192.0.2.1; !max_remove A 192.0.2.2; !max_remove A 192.0.2.3"},
		{"max_remove is per family", "A 192.0.2.1 60, AAAA 2001:db8::1 60, A 192.0.2.2 60, AAAA 2001:db8::2 60",
			"h1 192.0.2.1 down, h1 2001:db8::1 down, h2 192.0.2.2 up, h2 2001:db8::2 up", pol(1, "1", false), "-A 192.0.2.1; -AAAA 2001:db8::1"},
		{"drift is kept and reported", "A 192.0.2.1 60, A 203.0.113.9 60", "h1 192.0.2.1 up", pol(1, "100%", false), "~A 203.0.113.9"},
		{"--prune removes drift", "A 192.0.2.1 60, A 203.0.113.9 60", "h1 192.0.2.1 up", pol(1, "100%", true), "-A 203.0.113.9; ~A 203.0.113.9"},
		{"failed addresses leave before drift", "A 192.0.2.1 60, A 192.0.2.2 60, A 203.0.113.9 60", "h1 192.0.2.1 up, h2 192.0.2.2 down",
			pol(1, "1", true), "-A 192.0.2.2; !max_remove A 203.0.113.9; ~A 203.0.113.9"},
		{"a held host is neither removed nor added", "A 192.0.2.1 60, A 192.0.2.2 60", "h1 192.0.2.1 up, h2 192.0.2.2 hold, h3 192.0.2.3 hold",
			pol(1, "100%", false), "=h2; =h3"},
		{"TTL above 300 is warned", "A 192.0.2.1 600", "h1 192.0.2.1 up", pol(1, "33%", false), "w"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			np := Compute(name, recs(tc.current), addrs(tc.addrs), tc.pol)
			if got := brief(np); got != tc.want {
				t.Fatalf("plan %q\nwant %q", got, tc.want)
			}
			// Applying the plan and planning again changes nothing more
			// than what the safety rules still hold back.
			after := applied(np)
			again := Compute(name, after, addrs(tc.addrs), tc.pol)
			for _, c := range again.Changes {
				if c.Op == OpAdd {
					t.Fatalf("second plan adds %s: not idempotent", c.Record)
				}
			}
			if len(again.Changes) > len(np.Refused) {
				t.Fatalf("second plan %q removes more than was held back", brief(again))
			}
		})
	}
}

// applied is np.Current with np's changes made.
func applied(np NamePlan) []dnsrecords.Record {
	out := append([]dnsrecords.Record(nil), np.Current...)
	for _, c := range np.Changes {
		if c.Op == OpAdd {
			out = append(out, c.Record)
			continue
		}
		for i, r := range out {
			if r.Type == c.Record.Type && r.Addr == c.Record.Addr {
				out = append(out[:i], out[i+1:]...)
				break
			}
		}
	}
	dnsrecords.Sort(out)
	return out
}

func TestWarningText(t *testing.T) {
	np := Compute(name, recs("A 192.0.2.1 600"), addrs("h1 192.0.2.1 up"), Policy{TTL: 60})
	want := "api.example.test A records have TTL 600 s: resolvers keep a removed address up to 10 minutes; lower it to 300 s or less"
	if len(np.Warnings) != 1 || np.Warnings[0] != want {
		t.Fatalf("%q", np.Warnings)
	}
}
