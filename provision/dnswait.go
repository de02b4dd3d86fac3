package provision

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/edgectl/edgectl/dnssync"
)

// wait waits the TTL of the records this run removed, bounded, showing
// the time left; a stop or the run's end cuts it short.
func (d *DNSDrain) wait(ctx context.Context, o Options, st *hostState, rec *HostDNS, logf func(string, ...any)) error {
	ttl := time.Duration(rec.TTLMS) * time.Millisecond
	if len(rec.Removed) == 0 || ttl <= 0 {
		return nil
	}
	bound := d.maxWait()
	if ttl > bound {
		st.res.Notes = append(st.res.Notes, fmt.Sprintf("its records have a TTL of %s; waited only %s: resolvers may have sent clients to it for up to %s more",
			ttl, bound, ttl-bound))
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopWatch := context.AfterFunc(o.Stop, cancel)
	defer stopWatch()
	what := plural(len(rec.Removed), "record")
	logf("out of DNS (%s): waiting out their TTL, %s", strings.Join(rec.Removed, ", "), min(ttl, bound))
	waited, err := dnssync.WaitTTL(wctx, ttl, bound, func(left time.Duration) {
		if o.Event != nil {
			o.Event(Event{Host: st.host.Name, Msg: fmt.Sprintf("out of DNS (%s): waiting out the TTL, %s left of %s", what, left, min(ttl, bound)), Left: left})
		}
	})
	rec.WaitMS = waited.Milliseconds()
	switch {
	case err == nil:
		return nil
	case o.Stop.Err() != nil:
		return ErrStopped
	}
	return fmt.Errorf("%w while waiting for the records' TTL", ErrRunTimeout)
}

// putBack restores the drained records (a few attempts) and, once they
// are back, removes the host's ledger.
func (d *DNSDrain) putBack(ctx context.Context, h Host, st *hostState, drained *dnssync.Drained, rec *HostDNS, logf func(string, ...any)) {
	if len(drained.Removed) == 0 {
		rec.Restored = true
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dnsOpsBudget/2)
	defer cancel()
	start := time.Now()
	logf("putting its records back in DNS")
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		if err = dnssync.Restore(rctx, d.Provider, drained); err == nil || rctx.Err() != nil {
			break
		}
		select {
		case <-rctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
	rec.RestoreMS = time.Since(start).Milliseconds()
	if err != nil {
		rec.LeftOut, rec.Why, rec.Error = changeList(drained.Removed), "putting them back failed", err.Error()
		st.res.Notes = append(st.res.Notes, fmt.Sprintf("its records could not be put back in DNS (%v): still out: %s; the next deploy, or edgectl dns sync, puts them back",
			err, strings.Join(rec.LeftOut, ", ")))
		logf("its records could not be put back in DNS")
		return
	}
	rec.Restored = true
	if err := settleLedger(rctx, h, nil); err != nil {
		st.res.Notes = append(st.res.Notes, "its records are back in DNS, but the ledger "+DNSLedgerPath(h.Layout)+" could not be removed ("+err.Error()+"); the next deploy removes it")
	}
}
