package sweep

import (
	"context"
	"fmt"

	"github.com/edgectl/edgectl/notify"
)

// Delivery is the outcome of offering one alert to one notifier.
type Delivery struct {
	Alert    Alert
	Notifier string
	Err      error
}

// Deliver offers every pending alert to every notifier that has not taken
// it yet, and keeps in the outbox what some notifier refused, for the next
// sweep. It returns one Delivery per attempt. With no notifier, the outbox
// is handed back as attempts by "" and emptied: the caller logs them.
func (s *State) Deliver(ctx context.Context, ns []notify.Notifier) []Delivery {
	var out []Delivery
	if len(ns) == 0 {
		for _, o := range s.Outbox {
			out = append(out, Delivery{Alert: o.Alert})
		}
		s.Outbox = nil
		return out
	}
	byName := map[string]notify.Notifier{}
	var all []string
	for _, n := range ns {
		byName[n.Name()] = n
		all = append(all, n.Name())
	}
	var keep []Outgoing
	for _, o := range s.Outbox {
		to := o.To
		if !o.Tried {
			to = all
		}
		var left []string
		for _, name := range to {
			n, ok := byName[name]
			if !ok {
				continue // no longer configured
			}
			err := n.Notify(ctx, o.Alert)
			out = append(out, Delivery{Alert: o.Alert, Notifier: name, Err: err})
			if err != nil {
				left = append(left, name)
			}
		}
		if len(left) > 0 {
			keep = append(keep, Outgoing{Alert: o.Alert, To: left, Tried: true})
		}
	}
	s.Outbox = keep
	return out
}

// String is "alert slack: edgectl sweep: ..." or the error.
func (d Delivery) String() string {
	if d.Err != nil {
		return fmt.Sprintf("%v; retried on the next sweep", d.Err)
	}
	return fmt.Sprintf("alert %s took: %s", d.Notifier, d.Alert.Text)
}
