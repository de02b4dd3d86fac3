package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/edgectl/edgectl/dnsrecords"
	"github.com/edgectl/edgectl/dnssync"
	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/hostlock"
	"github.com/edgectl/edgectl/remote"
)

// DNSLedgerName is the host's ledger of DNS records a deploy took out
// (rollout.dns_drain), in the state directory next to the journal. It is
// written before the first record leaves and removed once they are all
// back; one found by a deploy belongs to a run that did not finish.
const DNSLedgerName = "dns-drain.json"

// States of a ledger.
const (
	ledgerRemoving = "removing" // written before the removals: some may be out
	ledgerOut      = "out"      // every record listed is out, until restored
)

// dnsLedger is the content of DNSLedgerName.
type dnsLedger struct {
	Version int `json:"version"`
	// Run is the run's token (its lock's); Holder and Command say whose.
	Run     string `json:"run"`
	Holder  string `json:"holder"`
	Command string `json:"command"`
	// Time is when the records were taken out (this machine's clock).
	Time  time.Time `json:"time"`
	State string    `json:"state"`
	// Records are the records to put back (name, type, address, TTL).
	Records []dnsrecords.Record `json:"records"`
}

// DNSLedgerPath is where a host's ledger is.
func DNSLedgerPath(l Layout) string { return path.Join(l.StateDir, DNSLedgerName) }

func newLedger(holder hostlock.Holder, recs []dnsrecords.Record) *dnsLedger {
	return &dnsLedger{Version: 1, Run: holder.Token, Holder: holder.Who(), Command: holder.Command, Time: time.Now(), Records: recs}
}

// describe is "deploy fleet.yaml by ops@laptop at 2025-01-01 12:03:04 UTC
// took out api.example.com A 192.0.2.1, …".
func (l *dnsLedger) describe() string {
	recs := make([]string, len(l.Records))
	for i, r := range l.Records {
		recs[i] = r.String()
	}
	return fmt.Sprintf("%s by %s at %s took out %s", l.Command, l.Holder, l.Time.UTC().Format(time.DateTime+" UTC"), strings.Join(recs, ", "))
}

func writeLedger(ctx context.Context, h Host, l *dnsLedger, state string) error {
	l.State = state
	data, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	return h.retrying(ctx, func() error {
		if err := h.WriteFile(ctx, DNSLedgerPath(h.Layout), append(data, '\n'), 0o644); err != nil {
			return fmt.Errorf("write the DNS ledger %s (nothing was taken out of DNS): %w", DNSLedgerPath(h.Layout), err)
		}
		return nil
	})
}

// settleLedger writes l as the records still out, or removes the ledger
// when l lists none.
func settleLedger(ctx context.Context, h Host, l *dnsLedger) error {
	if l != nil && len(l.Records) > 0 {
		return writeLedger(ctx, h, l, ledgerOut)
	}
	return h.retrying(ctx, func() error { return h.Remove(ctx, DNSLedgerPath(h.Layout)) })
}

// readLedger returns the host's ledger, nil when there is none.
func readLedger(ctx context.Context, h remote.Host, l Layout) (*dnsLedger, error) {
	data, err := h.ReadFile(ctx, DNSLedgerPath(l))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var led dnsLedger
	if err := json.Unmarshal(data, &led); err != nil {
		return nil, fmt.Errorf("%s is not a DNS ledger: %w", DNSLedgerPath(l), err)
	}
	if len(led.Records) == 0 {
		return nil, nil
	}
	return &led, nil
}

// prepareDrains runs after planning, under the hosts' locks, for fleets
// with a dns: section. It reads each host's ledger: the records of a host
// that needs no change go back once it passes the health gate; those of a
// host about to change go back with its own (DNSDrain.around); without
// rollout.dns_drain they are reported. In a dry run it shows what
// rollout.dns_drain would take out.
func prepareDrains(ctx context.Context, f *fleet.Fleet, o Options, live []*hostState, emit func(string, string, ...any)) {
	if f.DNS == nil {
		return
	}
	sem := make(chan struct{}, max(o.Parallel, 1))
	var wg sync.WaitGroup
	for _, st := range live {
		if st.res.Status != "" {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			logf := func(format string, a ...any) { emit(st.host.Name, format, a...) }
			led, err := readLedger(ctx, st.conn, o.Layout)
			if err != nil {
				st.res.Notes = append(st.res.Notes, "the DNS ledger could not be read: "+err.Error())
			}
			st.ledger = led
			d := o.DNSDrain
			changed := st.plan.Changed()
			if o.DryRun && changed && d != nil {
				d.preview(ctx, st)
			}
			switch {
			case led == nil:
			case d == nil:
				st.res.Notes = append(st.res.Notes, fmt.Sprintf("an interrupted deploy took records out of DNS (%s); rollout.dns_drain is off, so this run leaves them: edgectl dns sync puts them back once the host is healthy, then remove %s",
					led.describe(), DNSLedgerPath(o.Layout)))
			case !changed && !o.DryRun:
				d.recover(ctx, f, o, st, led, logf)
			default:
				if st.res.DNS == nil {
					st.res.DNS = &HostDNS{Removed: []string{}}
				}
				st.res.DNS.Interrupted = led.describe()
				st.res.Notes = append(st.res.Notes, "an interrupted deploy took records out of DNS ("+led.describe()+"); this deploy puts those still out back once the host passes its gate")
			}
		})
	}
	wg.Wait()
}

// preview is a dry run's view of a host's drain: the records it would
// take out and those a safety rule would keep, in the host's result.
func (d *DNSDrain) preview(ctx context.Context, st *hostState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	rec := &HostDNS{Removed: []string{}}
	st.res.DNS = rec
	plan, err := dnssync.PlanDrain(ctx, d.Provider, d.Names, st.host.Name, hostAddrs(st.host), d.Policy)
	if err != nil {
		rec.Error = err.Error()
		st.res.Notes = append(st.res.Notes, "rollout.dns_drain: the DNS records could not be read: "+err.Error())
		return
	}
	rec.Removed, rec.TTLMS = changeList(plan.Removed), plan.TTL().Milliseconds()
	if len(plan.Removed) > 0 {
		rec.WaitMS = min(plan.TTL(), d.maxWait()).Milliseconds()
	}
	for _, r := range plan.Refused {
		rec.Kept = append(rec.Kept, fmt.Sprintf("%s (%s)", r.Record, r.Why))
	}
}

// recover puts back the records an interrupted run left out of a host that
// needs no change, once it passes the health gate.
func (d *DNSDrain) recover(ctx context.Context, f *fleet.Fleet, o Options, st *hostState, led *dnsLedger, logf func(string, ...any)) {
	start := time.Now()
	defer func() { st.res.Duration += time.Since(start) }()
	rec := &HostDNS{Removed: []string{}, Interrupted: led.describe()}
	st.res.DNS = rec
	drained := &dnssync.Drained{Host: st.host.Name}
	for _, r := range led.Records {
		drained.Removed = append(drained.Removed, dnssync.Change{Op: dnssync.OpRemove, Record: r, Host: st.host.Name, Reason: "deploying"})
	}
	g := hostGate(f, o, st)
	logf("an interrupted deploy left its records out of DNS: health gate before putting them back (up to %s)", g.Timeout)
	if err := g.Wait(ctx, st.conn, o.Stop); err != nil {
		rec.LeftOut, rec.Why = changeList(drained.Removed), "the host did not pass the health gate: "+err.Error()
		st.res.Notes = append(st.res.Notes, fmt.Sprintf("an interrupted deploy took records out of DNS (%s); they stay out: %s",
			led.describe(), rec.Why))
		logf("its records stay out of DNS: it did not pass the health gate")
		return
	}
	h := Host{Host: st.conn, Layout: o.Layout, Log: logf}
	d.putBack(ctx, h, st, drained, rec, logf)
	if rec.Restored {
		st.res.Notes = append(st.res.Notes, "put back in DNS what an interrupted deploy had left out ("+led.describe()+")")
	}
}
