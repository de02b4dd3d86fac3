package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/buildtest"
	"github.com/edgectl/edgectl/internal/testbed"
)

// TestDNSDrainRollout: rollout.dns_drain on the 3-VPS testbed with a real
// BIND primary (TTL 3 s). A restart deploy (a unit change: every agent
// drains and restarts) runs while a DNS-following client re-resolves the
// name every second against BIND and spreads GETs over the A and AAAA
// records it got: each host's records leave BIND, the host waits their
// TTL, is restarted and gated, and its records come back; each address is
// out for at least the TTL, the client's lookups see it gone, the client
// sees no failed request, and sweep --dns, run over and over meanwhile,
// changes no record.
// A deploy killed while a host's records are out leaves its ledger on
// the host, and the next deploy puts them back. The same restart without
// dns_drain, under the same load, is measured for comparison (not
// asserted: it depends on timing).
func TestDNSDrainRollout(t *testing.T) {
	bin := buildtest.Binary(t, "./cmd/edgectl", "e2e-v1")
	app := buildtest.Binary(t, "./internal/sampleapp", "e2e")
	b := testbed.StartT(t, testbed.Options{Hosts: testbed.Default3(), BindRO: map[string]string{app: "/opt/sample/sampleapp"}})
	const name, ttl = "api.fleet.test", 3
	d := startDNSBed(t, b, name, ttl)
	all := d.served(t)
	dir := t.TempDir()
	// write is the fleet with the agent's drain timeout (part of its unit:
	// a change restarts every agent) and rollout.dns_drain on or off.
	write := func(file, timeout string, drain bool) string {
		extra := strings.Replace(fleetExtra("60s", "[::1]:8000"), "domains: [api.example.test]", "domains: ["+name+"]", 1)
		extra = strings.Replace(extra, "timeout: 5s}", "timeout: "+timeout+"}", 1)
		extra = strings.Replace(extra, "  drain: 1s\n", fmt.Sprintf("  drain: 1s\n  dns_drain: %v\n", drain), 1)
		p := filepath.Join(dir, file)
		writeFile(t, p, b.FleetYAML(extra+"sweep: {scheme: http, timeout: 1s}\n"+d.fleetDNS(ttl)))
		return p
	}
	// deploy runs a deploy; during, when given, runs while it does.
	deploy := func(fleetPath string, during func(done <-chan struct{})) (result, deployDrainJSON) {
		t.Helper()
		p := start(t, bin, d.env, "deploy", fleetPath, "--yes", "--json")
		if during != nil {
			during(p.done)
		}
		r := p.wait(t)
		if d.secretIn(r.stdout + r.stderr) {
			t.Fatalf("the TSIG secret was printed:\n%s", r)
		}
		var j deployDrainJSON
		if err := json.Unmarshal([]byte(r.stdout), &j); err != nil {
			t.Fatalf("deploy --json: %v\n%s", err, r)
		}
		return r, j
	}
	if r, _ := deploy(write("install.yaml", "5s", false), nil); r.code != 0 {
		t.Fatalf("first deploy:\n%s", r)
	}

	t.Run("dry run shows the records each host would leave with", func(t *testing.T) {
		r := run(t, bin, d.env, "deploy", write("dry.yaml", "6s", true), "--dry-run")
		vps1 := b.Host("vps1")
		if r.code != 0 || !contains(r.stdout, "dns_drain: takes out "+name+" A "+vps1.IPv4+", "+name+" AAAA "+vps1.IPv6+", waits 3s (their TTL)") {
			t.Fatalf("dry run:\n%s", r)
		}
		if got := d.served(t); got != all {
			t.Fatalf("a dry run changed the records: %s, want %s", got, all)
		}
	})

	t.Run("restart deploy under a DNS-following client", func(t *testing.T) {
		c := startFollower(t, d.bind.Addr, name)
		w := watchDNS(d.bind.Addr, name)
		time.Sleep(2 * time.Second) // load before the first host leaves
		// sweep --dns from cron-like repeated runs meanwhile: it must leave
		// the deploying hosts' records alone.
		drain := write("drain.yaml", "6s", true)
		var sweeps, changes, holds int
		var changed []string
		r, j := deploy(drain, func(done <-chan struct{}) {
			for {
				select {
				case <-done:
					return
				default:
				}
				sr := run(t, bin, d.env, "sweep", drain, "--dns", "--json", "--state", filepath.Join(dir, "sweep.json"))
				var sj sweepDNSJSON
				if err := json.Unmarshal([]byte(sr.stdout), &sj); err != nil || sj.DNSAction == nil {
					t.Fatalf("sweep --dns --json: %v\n%s", err, sr)
				}
				sweeps++
				if sj.DNSAction.Result != nil && len(sj.DNSAction.Result.Done) > 0 {
					changes += len(sj.DNSAction.Result.Done)
					changed = append(changed, sr.stdout)
				}
				for _, n := range sj.DNSAction.Plan.Names {
					for _, h := range n.Held {
						if strings.HasPrefix(h.Hold, "deploying") {
							holds++
						}
					}
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
		time.Sleep(2 * time.Second)
		outs := w.stop()
		sent, failed, errs := c.finish()
		if r.code != 0 || j.Status != "ok" {
			t.Fatalf("deploy with dns_drain:\n%s", r)
		}
		for _, h := range j.Hosts {
			if h.Status != "deployed" || h.Action != "restart" || h.DNS == nil || !h.DNS.Restored || len(h.DNS.Removed) == 0 || h.DNS.WaitMS < 2700 {
				t.Errorf("%s: %s %s, dns %+v: want restarted, records out, the 3 s TTL waited, and back", h.Name, h.Status, h.Action, h.DNS)
			}
			t.Logf("MEASURED %s: %d records out, drain %d ms, TTL wait %d ms, restore %d ms, host total %d ms",
				h.Name, len(h.DNS.Removed), h.DNS.DrainMS, h.DNS.WaitMS, h.DNS.RestoreMS, h.DurationMS)
		}
		if got := d.served(t); got != all {
			t.Fatalf("after the deploy BIND serves %s, want %s", got, all)
		}
		// Each address left BIND once and came back, and stayed out for at
		// least the TTL (the deploy waits it before the restart); the
		// client's own lookups saw it gone, so the zero failures below are
		// those of a client that moved off each host before its restart.
		// (No check on when the client moved: that is the client's timing,
		// and on a loaded machine a lookup can time out.)
		if len(outs) != len(strings.Fields(all)) {
			t.Errorf("addresses that left DNS: %v, want each of %s once", outs, all)
		}
		for _, o := range outs {
			out := o.to.Sub(o.from)
			seen, ok := c.sawGone(o.addr, o.from.Add(-time.Second), o.to)
			if !ok || out < ttl*time.Second-200*time.Millisecond {
				t.Errorf("%s was out of DNS for %.1f s (want at least the %d s TTL), the client saw it gone: %v", o.addr, out.Seconds(), ttl, ok)
				continue
			}
			t.Logf("MEASURED %s out of DNS for %.1f s; the client's lookups saw it gone after %.1f s", o.addr, out.Seconds(), seen.Sub(o.from).Seconds())
		}
		t.Logf("MEASURED restart deploy with dns_drain on 3 hosts: %d requests, %d failed, deploy %.1f s (shared machine)", sent, failed, r.took.Seconds())
		if failed != 0 || sent < 100 {
			t.Fatalf("%d of %d requests failed during the rollout: %v", failed, sent, errs)
		}
		t.Logf("MEASURED sweep --dns during the deploy: %d runs, %d address holds for a deploy, %d changes", sweeps, holds, changes)
		if changes != 0 || sweeps == 0 || holds == 0 {
			t.Errorf("sweep --dns during the deploy: %d runs, %d holds, %d changes (want some runs and holds, no change):\n%s", sweeps, holds, changes, strings.Join(changed, "\n"))
		}
	})

	t.Run("a deploy killed while a host is out of DNS: the next one puts it back", func(t *testing.T) {
		killed := write("killed.yaml", "8s", true)
		p := start(t, bin, append(d.env, "EDGECTL_TEST_PAUSE_AT=vps1:prepare"), "deploy", killed, "--yes")
		if !p.paused(t) {
			t.Fatalf("the deploy did not reach vps1's first step:\n%s", p.wait(t))
		}
		vps1 := b.Host("vps1")
		out := d.served(t)
		ledger, err := b.Run(context.Background(), "vps1", "cat /var/lib/edgectl/dns-drain.json")
		p.signal(syscall.SIGKILL)
		p.wait(t)
		if strings.Contains(out, vps1.IPv4) || strings.Contains(out, vps1.IPv6) || err != nil || !contains(string(ledger), vps1.IPv4, vps1.IPv6) {
			t.Fatalf("at vps1's first step BIND serves %s, ledger %s (%v): want vps1 out and listed", out, ledger, err)
		}
		began := time.Now()
		r, j := deploy(killed, nil)
		if r.code != 0 || j.Hosts[0].DNS == nil || !j.Hosts[0].DNS.Restored || j.Hosts[0].DNS.Interrupted == "" {
			t.Fatalf("the next deploy:\n%s", r)
		}
		if got := d.served(t); got != all {
			t.Fatalf("after the next deploy BIND serves %s, want %s", got, all)
		}
		if _, err := b.Run(context.Background(), "vps1", "test ! -e /var/lib/edgectl/dns-drain.json"); err != nil {
			t.Fatalf("the ledger is still on vps1: %v", err)
		}
		t.Logf("MEASURED deploy killed with vps1 out of DNS: the next deploy (3 hosts, each drained) ended with them back after %.1f s", time.Since(began).Seconds())
	})

	t.Run("the same restart without dns_drain, for comparison", func(t *testing.T) {
		c := startFollower(t, d.bind.Addr, name)
		time.Sleep(2 * time.Second)
		r, j := deploy(write("plain.yaml", "9s", false), nil)
		time.Sleep(time.Second)
		sent, failed, errs := c.finish()
		if r.code != 0 || j.Status != "ok" {
			t.Fatalf("deploy without dns_drain:\n%s", r)
		}
		t.Logf("MEASURED restart deploy without dns_drain on 3 hosts: %d requests, %d failed, deploy %.1f s (first errors: %v)", sent, failed, r.took.Seconds(), first(errs, 3))
	})
}

// deployDrainJSON is the part of `deploy --json` this test reads.
type deployDrainJSON struct {
	Status string `json:"status"`
	Hosts  []struct {
		Name       string `json:"name"`
		Status     string `json:"status"`
		Action     string `json:"action"`
		DurationMS int64  `json:"duration_ms"`
		DNS        *struct {
			Interrupted string   `json:"interrupted"`
			Removed     []string `json:"removed"`
			Restored    bool     `json:"restored"`
			WaitMS      int64    `json:"wait_ms"`
			DrainMS     int64    `json:"drain_ms"`
			RestoreMS   int64    `json:"restore_ms"`
		} `json:"dns"`
	} `json:"hosts"`
}

// sweepDNSJSON is the part of `sweep --dns --json` this test reads.
type sweepDNSJSON struct {
	DNSAction *struct {
		Plan struct {
			Names []struct {
				Held []struct {
					Host string `json:"host"`
					Hold string `json:"hold"`
				} `json:"held"`
			} `json:"names"`
		} `json:"plan"`
		Result *struct {
			Done []json.RawMessage `json:"done"`
		} `json:"result"`
	} `json:"dns_action"`
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }
