package sweep_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/internal/buildtest"
	"github.com/edgectl/edgectl/remote"
	"github.com/edgectl/edgectl/sweep"
	"github.com/edgectl/edgectl/sweep/sweeptest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	buildtest.Cleanup()
	os.Exit(code)
}

// edgectl builds the binary on first use.
func edgectl(t testing.TB) string { return buildtest.Edgectl(t) }

func parseFleet(t testing.TB, yaml string) *fleet.Fleet {
	t.Helper()
	f, err := fleet.Parse("fleet.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatalf("fleet.yaml: %v\n%s", err, yaml)
	}
	return f
}

// TestSweepFleet: one lab fleet with every kind of trouble at once, each
// in its own column, then the same lab healthy.
func TestSweepFleet(t *testing.T) {
	lab := sweeptest.New(t, edgectl(t))
	h1 := lab.AddHost(t, 11, sweeptest.HostOptions{})
	h2 := lab.AddHost(t, 12, sweeptest.HostOptions{})
	h3 := lab.AddHost(t, 13, sweeptest.HostOptions{Stopped: true})
	h4 := lab.AddHost(t, 14, sweeptest.HostOptions{CertValid: 5 * 24 * time.Hour})
	h5 := lab.AddHost(t, 15, sweeptest.HostOptions{DeadUpstream: true})
	lab.DropIPv6(t, h2)
	for _, h := range []*sweeptest.Host{h1, h2, h4} {
		h.WaitUpstreams(t, false)
	}
	h5.WaitUpstreams(t, true)
	const stale = "198.18.0.99"
	dns := sweeptest.StartDNS(t, map[string][]string{
		sweeptest.Domain: {h1.IPv4, h2.IPv4, h3.IPv4, h4.IPv4, stale, h1.IPv6, h2.IPv6},
	})
	hosts := []*sweeptest.Host{h1, h2, h3, h4, h5}
	f := parseFleet(t, lab.FleetYAML(dns.Addr, hosts, ""))
	opts := sweep.Options{Dial: lab.Dial, RootCAs: lab.PKI.Pool}

	start := time.Now()
	rep, err := sweep.Run(t.Context(), f, opts)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("sweep took %v with a 1s probe timeout", took)
	}
	byName := map[string]sweep.HostReport{}
	for _, h := range rep.Hosts {
		byName[h.Name] = h
	}
	for _, tc := range []struct {
		name       string
		host       string
		v4, v6     string // status[:kind]
		tls        string
		upstreams  string
		daysAtMost int
	}{
		// The public health path answers the status only: upstream
		// names and counts come from the admin socket (--deep).
		{"healthy", h1.Name, "ok", "ok", "ok", "", 90},
		{"IPv6 path dropped", h2.Name, "ok", "fail:timeout", "ok", "", 90},
		{"agent stopped", h3.Name, "fail:refused", "fail:refused", "", "", 0},
		{"certificate near expiry", h4.Name, "ok", "ok", "warn", "", 4},
		{"upstream dead", h5.Name, "ok", "ok", "ok", "", 90},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := byName[tc.host]
			for _, c := range []struct {
				want string
				got  sweep.Target
			}{{tc.v4, h.IPv4}, {tc.v6, h.IPv6}} {
				got := c.got.Status
				if c.got.Status == sweep.StatusFail {
					got += ":" + c.got.Kind
				}
				if got != c.want {
					t.Errorf("%s: got %s (%s), want %s", c.got.Address, got, c.got.Error, c.want)
				}
			}
			gotTLS := ""
			if h.TLS != nil {
				gotTLS = h.TLS.Status
				if h.TLS.DaysLeft > tc.daysAtMost || h.TLS.DaysLeft < tc.daysAtMost-1 || h.TLS.Issuer != "edgectl sweep test root" {
					t.Errorf("tls %+v, want about %d days left", h.TLS, tc.daysAtMost)
				}
			}
			if gotTLS != tc.tls {
				t.Errorf("tls status %q, want %q (%+v)", gotTLS, tc.tls, h.TLS)
			}
			var ups []string
			for _, u := range h.Upstreams {
				ups = append(ups, fmt.Sprintf("%s %d/%d", u.Name, u.Live, u.Total))
			}
			if got := strings.Join(ups, ","); got != tc.upstreams {
				t.Errorf("upstreams %q, want %q", got, tc.upstreams)
			}
		})
	}
	wantList(t, "dns.unexpected", rep.DNS.Unexpected, stale)
	wantList(t, "dns.unhealthy_in_dns", rep.DNS.UnhealthyInDNS, h3.IPv4, h2.IPv6)
	wantList(t, "dns.missing", rep.DNS.Missing, h5.IPv4, h4.IPv6, h5.IPv6)
	if rep.Status != sweep.StatusDegraded {
		t.Errorf("status %s, want degraded", rep.Status)
	}
	sum := rep.Summary()
	for _, want := range []string{"5 hosts, 10 addresses: 7 ok, 3 failed",
		"DNS: 2 unhealthy addresses still in DNS (" + h3.IPv4 + ", " + h2.IPv6 + ")",
		"1 address in DNS that is not in the fleet (" + stale + ")"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary %q lacks %q", sum, want)
		}
	}
	if rep.Problems[0].Check != "dns" || !strings.Contains(rep.Problems[0].Summary, h3.IPv4) {
		t.Errorf("top problem %+v, want the unhealthy address in DNS", rep.Problems[0])
	}

	t.Run("healthy fleet", func(t *testing.T) {
		dns.Set(map[string][]string{sweeptest.Domain: {h1.IPv4, h1.IPv6}})
		f := parseFleet(t, lab.FleetYAML(dns.Addr, []*sweeptest.Host{h1}, ""))
		rep, err := sweep.Run(t.Context(), f, opts)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Status != sweep.StatusHealthy || len(rep.Problems) != 0 {
			t.Fatalf("status %s, problems %+v", rep.Status, rep.Problems)
		}
	})

	t.Run("untrusted certificate fails the address", func(t *testing.T) {
		f := parseFleet(t, lab.FleetYAML(dns.Addr, []*sweeptest.Host{h1}, ""))
		rep, _ := sweep.Run(t.Context(), f, sweep.Options{Dial: lab.Dial}) // system pool only
		h := rep.Hosts[0]
		if h.IPv4.Status != sweep.StatusFail || h.IPv4.Kind != "tls" || !strings.Contains(h.IPv4.Error, "--ca-file") {
			t.Fatalf("ipv4 %+v", h.IPv4)
		}
	})

	t.Run("down", func(t *testing.T) {
		dns.Set(map[string][]string{sweeptest.Domain: {h3.IPv4}})
		f := parseFleet(t, lab.FleetYAML(dns.Addr, []*sweeptest.Host{h3}, ""))
		rep, _ := sweep.Run(t.Context(), f, opts)
		if rep.Status != sweep.StatusDown {
			t.Fatalf("status %s, want down", rep.Status)
		}
	})

	t.Run("deep", func(t *testing.T) {
		dns.Set(map[string][]string{sweeptest.Domain: {h5.IPv4, h5.IPv6}})
		f := parseFleet(t, lab.FleetYAML(dns.Addr, []*sweeptest.Host{h5}, ""))
		local := func(context.Context, fleet.Host) (remote.Host, error) { return remote.Local{}, nil }
		o := opts
		o.Deep, o.Dialer = true, local
		rep, err := sweep.Run(t.Context(), f, o)
		if err != nil {
			t.Fatal(err)
		}
		a := rep.Hosts[0].Agent
		if a == nil || a.Source != "admin socket" || a.BindV6Only < 0 || len(a.Upstreams) != 1 ||
			a.Upstreams[0].Live != 0 || len(a.Upstreams[0].Down) != 1 {
			t.Fatalf("agent %+v", a)
		}
		if rep.Status != sweep.StatusDegraded {
			t.Fatalf("a dead upstream must degrade: %s %+v", rep.Status, rep.Problems)
		}
		// No admin socket: the error names what was tried.
		f.Agent.Admin = lab.Dir + "/missing.sock"
		rep, _ = sweep.Run(t.Context(), f, o)
		if a := rep.Hosts[0].Agent; a.Status != sweep.StatusFail || !strings.Contains(a.Error, "missing.sock") {
			t.Fatalf("agent %+v", a)
		}
	})
}

func wantList(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}
