package provision

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edgectl/edgectl/dnsrecords"
	"github.com/edgectl/edgectl/dnssync"
	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/hostlock"
)

// DNSDrain takes each host's A and AAAA records out of the fleet's
// round-robin names while the host is changed (rollout.dns_drain): the
// records leave (never below dns.min_healthy of a family), the host waits
// their TTL so resolvers forget it, then it is deployed and gated, and its
// records go back. A host whose gate fails keeps its records out (it is
// rolled back all the same). What was taken out is written to the host's
// ledger (DrainLedgerName in the state directory) before the first
// removal and removed when the records are back, so a run that is killed
// leaves a record the next deploy puts back (after that host passes its
// gate) or reports.
type DNSDrain struct {
	// Provider changes the records; Names are the round-robin names
	// (dns.names); Policy holds dns.min_healthy and dns.max_remove.
	Provider dnsrecords.Provider
	Names    []string
	Policy   dnssync.Policy
	// MaxWait bounds the wait for the records' TTL (0 or above
	// MaxDNSWait: MaxDNSWait). A run's maximum time counts it per batch.
	MaxWait time.Duration

	// mu makes the hosts of a batch drain and restore one after another,
	// so each sees the records the others left and min_healthy holds.
	mu sync.Mutex
}

// MaxDNSWait is the longest a host waits for its records' TTL: records
// with a longer TTL (edgectl dns warns above 300 s) are waited for this
// long, and the host's result says how long resolvers may still hold them.
const MaxDNSWait = 5 * time.Minute

// StepDNSDrain is the step that takes a host's records out of DNS and
// waits their TTL, before its first apply step.
const StepDNSDrain = "dns-drain"

// dnsOpsBudget is the provider's time for one host's drain and restore.
const dnsOpsBudget = 2 * time.Minute

// HostDNS is what rollout.dns_drain did with one host's records.
type HostDNS struct {
	// Removed are the records taken out ("api.example.com A 192.0.2.1"),
	// in a dry run those that would be.
	Removed []string `json:"removed"`
	// Kept are the host's records a safety rule kept in DNS while it was
	// changed, each with the rule: the host was deployed with them in.
	Kept []string `json:"kept,omitempty"`
	// Restored is set once every removed record is back.
	Restored bool `json:"restored"`
	// LeftOut are the records still out of DNS when the run ended, and
	// Why they were left out.
	LeftOut []string `json:"left_out,omitempty"`
	Why     string   `json:"why,omitempty"`
	// Interrupted describes an earlier run that took records out and did
	// not put them back (its ledger); they are handled with this run's.
	Interrupted string `json:"interrupted,omitempty"`
	// TTLMS is the records' longest TTL, WaitMS the time waited for it
	// (in a dry run, the time it would wait); DrainMS and RestoreMS the
	// provider's time.
	TTLMS     int64 `json:"ttl_ms"`
	WaitMS    int64 `json:"wait_ms"`
	DrainMS   int64 `json:"drain_ms"`
	RestoreMS int64 `json:"restore_ms"`
	// Error is the provider's error, when a change failed.
	Error string `json:"error,omitempty"`
}

func (d *DNSDrain) maxWait() time.Duration {
	if d.MaxWait <= 0 || d.MaxWait > MaxDNSWait {
		return MaxDNSWait
	}
	return d.MaxWait
}

// budget is what draining adds to the maximum time of a run of n hosts:
// per batch, the wait and the provider's time.
func (d *DNSDrain) budget(f *fleet.Fleet, n, parallel int) time.Duration {
	if d == nil {
		return 0
	}
	batch := min(max(f.Rollout.Batch, 1), max(parallel, 1))
	batches := max((n+batch-1)/batch, 1)
	return time.Duration(batches) * (d.maxWait() + dnsOpsBudget)
}

// hostAddrs are the host's public addresses.
func hostAddrs(h fleet.Host) []netip.Addr {
	var out []netip.Addr
	for _, s := range []string{h.IPv4, h.IPv6} {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// around drains st's records, waits their TTL, runs apply (which deploys,
// gates and, on failure, rolls back the host), and puts the records back
// when the host passed its gate or was not touched. The host's lock is
// held until its records are settled. Without a DNSDrain it only applies.
func (d *DNSDrain) around(ctx context.Context, f *fleet.Fleet, o Options, st *hostState, holder hostlock.Holder, logf func(string, ...any), apply func()) {
	if d == nil || o.Stop.Err() != nil {
		apply() // stopped: apply stops at once, and the records stay
		return
	}
	start := time.Now()
	rec := &HostDNS{Removed: []string{}}
	st.res.DNS = rec
	h := Host{Host: st.conn, Layout: o.Layout, Log: logf}
	// From now on the agent's health says a deploy holds the host, so a
	// sweep --dns leaves its records alone while they are out.
	_ = markAgent(ctx, st.conn, f.Agent.Admin, holder, true)
	unmark := func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = markAgent(uctx, st.conn, f.Agent.Admin, holder, false)
	}
	o.step(st.host.Name, StepDNSDrain)
	drained, err := d.take(ctx, h, st, holder, rec, logf)
	if err != nil {
		unmark()
		st.res.Duration += time.Since(start)
		st.res.Status, st.res.Step = StatusAborted, StepDNSDrain
		st.res.Error, st.res.Err = err.Error(), &StepError{StepDNSDrain, err}
		rec.Error = err.Error()
		logf("failed: its records could not be taken out of DNS; the host is as it was")
		return
	}
	if err := d.wait(ctx, o, st, rec, logf); err != nil {
		d.putBack(ctx, h, st, drained, rec, logf)
		unmark()
		st.res.Duration += time.Since(start)
		st.res.Status, st.res.Step = StatusAborted, StepDNSDrain
		st.res.Error, st.res.Err = err.Error(), &StepError{StepDNSDrain, err}
		logf("stopped while its records were out of DNS: the host is as it was")
		return
	}
	st.res.Duration += time.Since(start)
	// applyHost lets go of the lock when it is done; the records are this
	// host's business until they are back, so keep it until then.
	lock := st.lock
	st.lock = nil
	apply()
	st.lock = lock
	after := time.Now()
	defer func() {
		st.res.Duration += time.Since(after)
		st.release(ctx)
	}()
	switch st.res.Status {
	case StatusDeployed, StatusAborted:
		// Passed its gate, or failed before anything was replaced: it
		// serves as before.
		d.putBack(ctx, h, st, drained, rec, logf)
		if rec.Restored && st.res.Status == StatusDeployed {
			logf("deployed: %s; back in DNS", st.res.Summary)
		}
	default:
		rec.LeftOut, rec.Why = changeList(drained.Removed), leftOutWhy(st.res.Status)
		if len(rec.LeftOut) > 0 {
			st.res.Notes = append(st.res.Notes, fmt.Sprintf("left out of DNS because %s: %s; the next deploy puts them back once the host passes its gate (or edgectl dns sync, once it is healthy)",
				rec.Why, strings.Join(rec.LeftOut, ", ")))
			logf("%s; its records stay out of DNS", st.res.Status)
		}
	}
}

func leftOutWhy(status string) string {
	switch status {
	case StatusRolledBack:
		return "the host failed and was rolled back"
	case StatusFailed:
		return "the host failed and its rollback did not finish"
	}
	return "the host's deploy did not finish (" + status + ")"
}

// take records, then removes, the host's records (and takes over what an
// interrupted run left out); it returns everything to put back.
func (d *DNSDrain) take(ctx context.Context, h Host, st *hostState, holder hostlock.Holder, rec *HostDNS, logf func(string, ...any)) (*dnssync.Drained, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	start := time.Now()
	defer func() { rec.DrainMS = time.Since(start).Milliseconds() }()
	logf("taking its records out of DNS")
	plan, err := dnssync.PlanDrain(ctx, d.Provider, d.Names, st.host.Name, hostAddrs(st.host), d.Policy)
	if err != nil {
		return nil, fmt.Errorf("read the DNS records: %w", err)
	}
	for _, r := range plan.Refused {
		rec.Kept = append(rec.Kept, fmt.Sprintf("%s (%s)", r.Record, r.Why))
	}
	if len(rec.Kept) > 0 {
		st.res.Notes = append(st.res.Notes, "deployed with these records still in DNS, a safety rule keeps them: "+strings.Join(rec.Kept, "; ")+
			"; rollout.drain's graceful drain is what protects their clients")
	}
	// Records an interrupted run took out and that are still out (those
	// back in DNS are in plan.Removed again).
	var prev []dnsrecords.Record
	if st.ledger != nil {
		rec.Interrupted = st.ledger.describe()
		for _, r := range st.ledger.Records {
			if !slices.ContainsFunc(plan.Removed, func(c dnssync.Change) bool { return sameRecord(c.Record, r) }) {
				prev = append(prev, r)
			}
		}
	}
	all := append(append([]dnsrecords.Record(nil), prev...), records(plan.Removed)...)
	led := newLedger(holder, all)
	if len(all) > 0 {
		if err := writeLedger(ctx, h, led, ledgerRemoving); err != nil {
			return nil, err
		}
	}
	if err := plan.Take(ctx, d.Provider); err != nil {
		// Nothing was removed: the ledger keeps only the earlier run's.
		if lerr := settleLedger(ctx, h, newLedger(holder, prev)); lerr != nil {
			err = errors.Join(err, lerr)
		}
		return nil, err
	}
	if len(all) > 0 {
		// Best effort: the ledger written before already lists them.
		_ = writeLedger(ctx, h, led, ledgerOut)
	}
	rec.Removed = changeList(plan.Removed)
	rec.TTLMS = plan.TTL().Milliseconds()
	if len(rec.Removed) == 0 {
		logf("none of its records is in DNS: nothing to take out")
	}
	for _, r := range prev {
		plan.Removed = append(plan.Removed, dnssync.Change{Op: dnssync.OpRemove, Record: r, Host: st.host.Name, Reason: "deploying"})
	}
	return plan, nil
}

func sameRecord(a, b dnsrecords.Record) bool {
	return a.Name == b.Name && a.Type == b.Type && a.Addr == b.Addr
}

func records(cs []dnssync.Change) []dnsrecords.Record {
	out := make([]dnsrecords.Record, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Record)
	}
	return out
}

func changeList(cs []dnssync.Change) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Record.String())
	}
	return out
}
