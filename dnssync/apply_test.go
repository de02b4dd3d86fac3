package dnssync

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/dnsrecords"
	"github.com/edgectl/edgectl/internal/bindtest"
	"github.com/miekg/dns"
)

// flaky is a provider in memory that fails the operations it is told to:
// the seam where a vendor's error mid-run is injected.
type flaky struct {
	recs []dnsrecords.Record
	ops  int
	fail map[int]bool // operation numbers (from 1) that fail
}

func (f *flaky) List(_ context.Context, n string) ([]dnsrecords.Record, error) {
	var out []dnsrecords.Record
	for _, r := range f.recs {
		if r.Name == n {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *flaky) op() error {
	f.ops++
	if f.fail[f.ops] {
		return fmt.Errorf("HTTP 502 from the provider (operation %d)", f.ops)
	}
	return nil
}

func (f *flaky) Add(_ context.Context, r dnsrecords.Record) (dnsrecords.Record, error) {
	if err := f.op(); err != nil {
		return r, err
	}
	f.recs = append(f.recs, r)
	dnsrecords.Sort(f.recs)
	return r, nil
}

func (f *flaky) Delete(_ context.Context, r dnsrecords.Record) error {
	if err := f.op(); err != nil {
		return err
	}
	for i, x := range f.recs {
		if x.Name == r.Name && x.Type == r.Type && x.Addr == r.Addr {
			f.recs = append(f.recs[:i], f.recs[i+1:]...)
			break
		}
	}
	return nil
}

func listing(recs []dnsrecords.Record) string {
	var s []string
	for _, r := range recs {
		s = append(s, r.Type+" "+r.Addr.String())
	}
	return strings.Join(s, ", ")
}

// TestApplyUndoesOnFailure: a provider error mid-way reverts what the run
// did, so the records are as they were, and the error says what failed.
func TestApplyUndoesOnFailure(t *testing.T) {
	start := recs("A 192.0.2.1 60, A 192.0.2.2 60, A 192.0.2.3 60")
	verdicts := addrs("h1 192.0.2.1 down, h2 192.0.2.2 up, h3 192.0.2.3 down, h4 192.0.2.4 up")
	pol := Policy{MinHealthy: 1, MaxRemove: func(int) int { return 5 }, TTL: 60}
	for _, tc := range []struct {
		name    string
		fail    map[int]bool
		want    string
		wantErr string
	}{
		{"all go through", nil, "A 192.0.2.2, A 192.0.2.4", ""},
		{"the second removal fails", map[int]bool{3: true},
			"A 192.0.2.1, A 192.0.2.2, A 192.0.2.3",
			"DNS change failed: remove api.example.test A 192.0.2.3 (h3: connection refused): HTTP 502 from the provider (operation 3); reverted this run's 2 other changes, the records are as they were"},
		{"the first change fails", map[int]bool{1: true},
			"A 192.0.2.1, A 192.0.2.2, A 192.0.2.3",
			"DNS change failed: add api.example.test A 192.0.2.4 (h4: healthy): HTTP 502 from the provider (operation 1); nothing was changed"},
		{"the revert fails too", map[int]bool{3: true, 4: true},
			"A 192.0.2.2, A 192.0.2.3",
			"reverting this run's changes failed too, still in effect: remove api.example.test A 192.0.2.1 (h1: connection refused)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &flaky{recs: append([]dnsrecords.Record(nil), start...), fail: tc.fail}
			plan, err := Build(context.Background(), p, []string{name}, verdicts, pol)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Apply(context.Background(), p, plan.Changes())
			if got := listing(p.recs); got != tc.want {
				t.Errorf("records %s, want %s", got, tc.want)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrApply)):
				t.Fatalf("err %v\nwant %s", err, tc.wantErr)
			case tc.wantErr != "" && len(res.Done) != 0:
				t.Fatalf("a failed run reports changes done: %+v", res.Done)
			}
		})
	}
}

// TestSyncAgainstBIND: a plan built and applied through a real BIND
// primary, then planned again: nothing left to do.
func TestSyncAgainstBIND(t *testing.T) {
	srv := bindtest.Start(t, bindtest.Options{Records: []string{
		"api 60 IN A 192.0.2.1", "api 60 IN A 192.0.2.2", "api 60 IN AAAA 2001:db8::1", "api 60 IN A 203.0.113.9",
	}})
	p := provider(t, srv)
	verdicts := addrs("h1 192.0.2.1 up, h1 2001:db8::1 down, h2 192.0.2.2 down, h2 2001:db8::2 up, h3 192.0.2.3 up")
	pol := Policy{MinHealthy: 1, MaxRemove: func(int) int { return 10 }, TTL: 60}
	ctx := context.Background()
	plan, err := Build(ctx, p, []string{name}, verdicts, pol)
	if err != nil {
		t.Fatal(err)
	}
	if got := brief(plan.Names[0]); got != "+A 192.0.2.3 60; -A 192.0.2.2; +AAAA 2001:db8::2 60; -AAAA 2001:db8::1; ~A 203.0.113.9" {
		t.Fatalf("plan %s", got)
	}
	if _, err := Apply(ctx, p, plan.Changes()); err != nil {
		t.Fatal(err)
	}
	if a, aaaa := srv.Lookup(t, name, dns.TypeA), srv.Lookup(t, name, dns.TypeAAAA); strings.Join(a, " ") != "192.0.2.1 192.0.2.3 203.0.113.9" || strings.Join(aaaa, " ") != "2001:db8::2" {
		t.Fatalf("BIND serves A %v AAAA %v", a, aaaa)
	}
	again, err := Build(ctx, p, []string{name}, verdicts, pol)
	if err != nil || len(again.Changes()) != 0 || again.Summary() != "no change, 1 record not in the fleet" {
		t.Fatalf("second run: %v %s", err, again.Summary())
	}
}

// TestDrainRestoreAgainstBIND takes one host out and puts it back; a host
// that is the last of its family stays (min_healthy) and says so.
func TestDrainRestoreAgainstBIND(t *testing.T) {
	srv := bindtest.Start(t, bindtest.Options{Records: []string{
		"api 30 IN A 192.0.2.1", "api 30 IN A 192.0.2.2", "api 30 IN AAAA 2001:db8::1", "www 90 IN A 192.0.2.1",
	}})
	p := provider(t, srv)
	ctx := context.Background()
	names := []string{"api.example.test", "www.example.test"}
	pol := Policy{MinHealthy: 1, MaxRemove: func(int) int { return 1 }, TTL: 60}
	h1 := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}
	d, err := Drain(ctx, p, names, "h1", h1, pol)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Removed) != 1 || d.Removed[0].Record.String() != "api.example.test A 192.0.2.1" || len(d.Refused) != 2 {
		t.Fatalf("drained %+v", d)
	}
	for _, r := range d.Refused {
		if r.Rule != RuleMinHealthy {
			t.Fatalf("refused %+v", r)
		}
	}
	if got := srv.Lookup(t, "api.example.test", dns.TypeA); strings.Join(got, " ") != "192.0.2.2" {
		t.Fatalf("after drain A %v", got)
	}
	ttl, err := RecordTTL(ctx, p, names)
	if err != nil || ttl != 90*time.Second {
		t.Fatalf("ttl %v %v", ttl, err)
	}
	if err := Restore(ctx, p, d); err != nil {
		t.Fatal(err)
	}
	if got := srv.Lookup(t, "api.example.test", dns.TypeA); strings.Join(got, " ") != "192.0.2.1 192.0.2.2" {
		t.Fatalf("after restore A %v", got)
	}
	if err := Restore(ctx, p, d); err != nil {
		t.Fatalf("restoring twice: %v", err)
	}
}

func TestWaitTTLIsBounded(t *testing.T) {
	var ticks []time.Duration
	waited, err := WaitTTL(context.Background(), time.Hour, 1500*time.Millisecond, func(l time.Duration) { ticks = append(ticks, l) })
	if err != nil || waited < 1500*time.Millisecond || waited > 5*time.Second || len(ticks) < 2 || ticks[0] < time.Second || ticks[0] > 2*time.Second {
		t.Fatalf("waited %v, ticks %v, err %v", waited, ticks, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := WaitTTL(ctx, time.Minute, 0, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled wait: %v", err)
	}
}

func provider(t *testing.T, srv *bindtest.Server) dnsrecords.Provider {
	env := srv.Env()
	p, err := dnsrecords.New(dnsrecords.Config{Provider: "rfc2136", Zone: srv.Zone, Nameserver: srv.Addr,
		Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
