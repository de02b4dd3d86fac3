package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/edgectl/edgectl/internal/buildtest"
	"github.com/edgectl/edgectl/internal/testbed"
)

// TestDNSDrainRollout: rollout.dns_drain on the 3-VPS testbed with a real
// BIND primary (TTL 3 s). A restart deploy (a unit change: every agent
// drains and restarts) runs while a DNS-following client re-resolves the
// name every second against BIND and spreads GETs over the A and AAAA
// records it got: each host's records leave BIND, the host waits their
// TTL, is restarted and gated, and its records come back; the client sees
// no failed request and sends nothing to a host while it is out of DNS,
// and sweep --dns, run over and over meanwhile, changes no record.
// The same restart without dns_drain, under the same load, is measured
// for comparison (not asserted: it depends on timing).
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
		// Each address left BIND once and came back, and while it was out
		// (after the client's next lookup, 1 s) the client did not use it.
		if len(outs) != len(strings.Fields(all)) {
			t.Errorf("addresses that left DNS: %v, want each of %s once", outs, all)
		}
		stray := 0
		for _, o := range outs {
			n := c.sentTo(o.addr, o.from.Add(1500*time.Millisecond), o.to)
			stray += n
			t.Logf("MEASURED %s out of DNS for %.1f s (%d requests sent to it after the client's next lookup)", o.addr, o.to.Sub(o.from).Seconds(), n)
		}
		t.Logf("MEASURED restart deploy with dns_drain on 3 hosts: %d requests, %d failed, deploy %.1f s (shared machine)", sent, failed, r.took.Seconds())
		if failed != 0 || sent < 100 {
			t.Fatalf("%d of %d requests failed during the rollout: %v", failed, sent, errs)
		}
		if stray != 0 {
			t.Errorf("%d requests went to addresses that were out of DNS", stray)
		}
		t.Logf("MEASURED sweep --dns during the deploy: %d runs, %d address holds for a deploy, %d changes", sweeps, holds, changes)
		if changes != 0 || sweeps == 0 || holds == 0 {
			t.Errorf("sweep --dns during the deploy: %d runs, %d holds, %d changes (want some runs and holds, no change):\n%s", sweeps, holds, changes, strings.Join(changed, "\n"))
		}
	})

	t.Run("the same restart without dns_drain, for comparison", func(t *testing.T) {
		c := startFollower(t, d.bind.Addr, name)
		time.Sleep(2 * time.Second)
		r, j := deploy(write("plain.yaml", "7s", false), nil)
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
			Removed   []string `json:"removed"`
			Restored  bool     `json:"restored"`
			WaitMS    int64    `json:"wait_ms"`
			DrainMS   int64    `json:"drain_ms"`
			RestoreMS int64    `json:"restore_ms"`
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

// lookupAll asks server for name's A and AAAA records.
func lookupAll(server, name string) ([]string, error) {
	c := &dns.Client{Timeout: time.Second}
	var out []string
	for _, q := range []uint16{dns.TypeA, dns.TypeAAAA} {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), q)
		in, _, err := c.Exchange(m, server)
		if err != nil {
			return nil, err
		}
		for _, rr := range in.Answer {
			switch v := rr.(type) {
			case *dns.A:
				out = append(out, v.A.String())
			case *dns.AAAA:
				out = append(out, v.AAAA.String())
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// follower is a client that follows DNS: it re-resolves the name every
// second and spreads GETs over the addresses of both families it got.
type follower struct {
	load
	addrs atomic.Pointer[[]string]
	mu    sync.Mutex
	sends map[string][]time.Time // address → when a request to it started
}

func startFollower(t *testing.T, server, name string) *follower {
	t.Helper()
	f := &follower{load: load{stop: make(chan struct{})}, sends: map[string][]time.Time{}}
	first, err := lookupAll(server, name)
	if err != nil || len(first) == 0 {
		t.Fatalf("resolve %s at %s: %v %v", name, server, first, err)
	}
	f.addrs.Store(&first)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-f.stop:
				return
			case <-tick.C:
			}
			// A failed lookup keeps the last answer, as a stub resolver's
			// cache would.
			if a, err := lookupAll(server, name); err == nil && len(a) > 0 {
				f.addrs.Store(&a)
			}
		}
	}()
	for w := 0; w < 6; w++ {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
			for i := w; ; i++ {
				select {
				case <-f.stop:
					return
				default:
				}
				addrs := *f.addrs.Load()
				addr := addrs[i%len(addrs)]
				f.mu.Lock()
				f.sends[addr] = append(f.sends[addr], time.Now())
				f.mu.Unlock()
				f.get(c, net.JoinHostPort(addr, "80"))
			}
		}()
	}
	return f
}

// get sends one request and counts it.
func (f *follower) get(c *http.Client, hostport string) {
	resp, err := c.Get("http://" + hostport + "/")
	f.sent.Add(1)
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "ok from") {
			err = fmt.Errorf("HTTP %d %q", resp.StatusCode, body)
		}
	}
	if err != nil {
		f.failed.Add(1)
		f.mu.Lock()
		if len(f.errs) < 10 {
			f.errs = append(f.errs, hostport+": "+err.Error())
		}
		f.mu.Unlock()
	}
}

// sentTo counts the requests to addr that started between from and to.
func (f *follower) sentTo(addr string, from, to time.Time) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, at := range f.sends[addr] {
		if at.After(from) && at.Before(to) {
			n++
		}
	}
	return n
}

// outage is an address absent from DNS between from and to.
type outage struct {
	addr     string
	from, to time.Time
}

// dnsWatch polls the server every 100 ms and records when each address
// leaves and comes back.
type dnsWatch struct {
	stopc chan struct{}
	done  chan []outage
}

func watchDNS(server, name string) *dnsWatch {
	w := &dnsWatch{stopc: make(chan struct{}), done: make(chan []outage, 1)}
	go func() {
		var outs []outage
		gone := map[string]time.Time{}
		prev, _ := lookupAll(server, name)
		for {
			select {
			case <-w.stopc:
				w.done <- outs
				return
			case <-time.After(100 * time.Millisecond):
			}
			cur, err := lookupAll(server, name)
			if err != nil {
				continue
			}
			now := time.Now()
			in := map[string]bool{}
			for _, a := range cur {
				in[a] = true
				if since, ok := gone[a]; ok {
					outs = append(outs, outage{addr: a, from: since, to: now})
					delete(gone, a)
				}
			}
			for _, a := range prev {
				if _, ok := gone[a]; !ok && !in[a] {
					gone[a] = now
				}
			}
			prev = cur
			for a := range gone {
				prev = append(prev, a) // still watched until it is back
			}
		}
	}()
	return w
}

func (w *dnsWatch) stop() []outage {
	close(w.stopc)
	return <-w.done
}
