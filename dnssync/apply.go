package dnssync

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/edgectl/edgectl/dnsrecords"
)

// Build lists every name's records through p and plans it with Compute. A
// listing error is returned at once: nothing is planned on a partial view.
func Build(ctx context.Context, p dnsrecords.Provider, names []string, addrs []Addr, pol Policy) (*Plan, error) {
	plan := &Plan{Names: []NamePlan{}}
	for _, n := range names {
		recs, err := p.List(ctx, n)
		if err != nil {
			return nil, err
		}
		plan.Names = append(plan.Names, Compute(n, recs, addrs, pol))
	}
	return plan, nil
}

// Result is what Apply did.
type Result struct {
	// Done are the changes made (and kept).
	Done []Change `json:"done"`
	// Failed is the change the provider refused (nil when all went
	// through); Err is its error.
	Failed *Change `json:"failed,omitempty"`
	Err    error   `json:"-"`
	// Undone are changes of this run reverted after the failure.
	Undone []Change `json:"undone,omitempty"`
	// UndoErr is set when reverting failed too: then the records are
	// neither as before nor as planned, and the error says which change
	// is left.
	UndoErr error `json:"-"`
}

// ErrApply is matched (errors.Is) by Apply's error when a change failed.
var ErrApply = errors.New("DNS change failed")

// Apply carries out changes in order (Build's plans add before they
// remove, family by family).
// When one fails, the changes already made are reverted in reverse order,
// so the records are as they were, and the error says what failed and
// whether the revert went through.
func Apply(ctx context.Context, p dnsrecords.Provider, changes []Change) (*Result, error) {
	res := &Result{Done: []Change{}}
	for _, c := range changes {
		var err error
		switch c.Op {
		case OpAdd:
			var added dnsrecords.Record
			added, err = p.Add(ctx, c.Record)
			if err == nil {
				c.Record.ID = added.ID
			}
		case OpRemove:
			err = p.Delete(ctx, c.Record)
		default:
			err = fmt.Errorf("unknown operation %q", c.Op)
		}
		if err == nil {
			res.Done = append(res.Done, c)
			continue
		}
		failed := c
		res.Failed, res.Err = &failed, err
		break
	}
	if res.Failed == nil {
		return res, nil
	}
	// Revert on a context of its own: the failure may be the caller's
	// deadline, and the revert must still be tried.
	undoCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var left []string
	for i := len(res.Done) - 1; i >= 0; i-- {
		c := res.Done[i]
		var err error
		if c.Op == OpAdd {
			err = p.Delete(undoCtx, c.Record)
		} else {
			c.Record.ID = ""
			_, err = p.Add(undoCtx, c.Record)
		}
		if err != nil {
			res.UndoErr = errors.Join(res.UndoErr, err)
			left = append(left, c.String())
			continue
		}
		res.Undone = append(res.Undone, c)
	}
	res.Done = []Change{}
	msg := fmt.Sprintf("%s: %v", res.Failed, res.Err)
	switch {
	case res.UndoErr != nil:
		msg += fmt.Sprintf("; reverting this run's changes failed too, still in effect: %s (%v): check the zone", strings.Join(left, "; "), res.UndoErr)
	case len(res.Undone) > 0:
		msg += fmt.Sprintf("; reverted this run's %s, the records are as they were", plural(len(res.Undone), "other change", "other changes"))
	default:
		msg += "; nothing was changed"
	}
	return res, fmt.Errorf("%w: %s", ErrApply, msg)
}
