package provision

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/edgectl/edgectl/hostlock"
)

// lockAll takes the lock of every host in states, all or nothing: first
// all at once without waiting; when some are held, it lets go of what it
// has and takes them one by one in name order (so two runs cannot hold
// parts each, or deadlock), waiting up to o.LockWait in all. On failure it holds nothing and returns one error per
// host it could not lock.
func lockAll(ctx context.Context, states []*hostState, holder hostlock.Holder, o Options, emit func(host, format string, a ...any)) []error {
	start := time.Now()
	try := func(st *hostState, wait time.Duration) error {
		l, err := hostlock.Acquire(ctx, st.conn, holder, hostlock.Options{Path: o.Layout.Lock(), Wait: wait, Force: o.ForceUnlock,
			OnWait: func(s hostlock.Status) {
				emit(st.host.Name, "waiting for the lock (up to %s): held by %s", o.LockWait.Round(time.Second), s.Describe())
			}})
		if err != nil {
			return err
		}
		st.lock = l
		if l.TookOver != nil {
			how := "removed (forced)"
			if l.TookOver.Gone {
				how = "taken over: its process no longer runs on this machine"
			}
			note := fmt.Sprintf("the lock of %s was %s", l.TookOver.Describe(), how)
			st.res.Notes = append(st.res.Notes, note)
			emit(st.host.Name, "%s", note)
		}
		return nil
	}
	errs := make([]error, len(states))
	var wg sync.WaitGroup
	for i, st := range states {
		wg.Go(func() { errs[i] = try(st, 0) })
	}
	wg.Wait()
	if errors.Join(errs...) == nil {
		return nil
	}
	// Two runs that started together may each hold some of the locks:
	// both let go, then take them in name order, so the one that gets the
	// first host gets them all and the other waits, or stops. The short
	// grace covers the other run letting go of its part.
	releaseAll(ctx, states)
	order := append([]*hostState(nil), states...)
	sort.Slice(order, func(i, j int) bool { return order[i].host.Name < order[j].host.Name })
	for _, st := range order {
		if err := try(st, max(max(o.LockWait, lockGrace)-time.Since(start), 0)); err != nil {
			releaseAll(ctx, states)
			st.lockErr = err
			return []error{err}
		}
	}
	return nil
}

// lockGrace is how long, in all, locks are waited for after two runs
// collided (or LockWait when longer).
const lockGrace = 2 * time.Second

// releaseAll lets go of every lock held in states.
func releaseAll(ctx context.Context, states []*hostState) {
	var wg sync.WaitGroup
	for _, st := range states {
		if st.lock != nil {
			wg.Go(func() { st.release(ctx) })
		}
	}
	wg.Wait()
}

// release lets go of the host's lock (once); a failure is noted.
func (st *hostState) release(ctx context.Context) {
	if st.lock == nil {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	if err := st.lock.Release(rctx); err != nil {
		st.res.Notes = append(st.res.Notes, "the lock on the host could not be released ("+err.Error()+"); the next run on this machine takes it over, others must release it")
	}
	st.lock = nil
}
