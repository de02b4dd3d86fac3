package sweep

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/edgectl/edgectl/remote"
)

// stateVersion is written into state files; another version is started
// afresh rather than misread.
const stateVersion = 1

// State remembers, across sweeps, every host+family's consecutive failures
// and passes and whether it is currently considered down. It is what turns
// a cron job into an alerter that speaks only on transitions.
type State struct {
	Version int `json:"version"`
	// Targets is keyed by "host/family" (e.g. "edge-2/ipv6").
	Targets map[string]*TargetState `json:"targets"`
}

// TargetState is one host+family's history.
type TargetState struct {
	Address string `json:"address"`
	// Failures and Passes count consecutive sweeps; one resets the other.
	Failures int `json:"consecutive_failures"`
	Passes   int `json:"consecutive_passes"`
	// Down is true from fail_after failures until recover_after passes.
	Down bool `json:"down"`
	// Since is when Down last changed (zero before the first change).
	Since     time.Time `json:"since,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	// Pending is an alert that could not be delivered yet; it is retried
	// on the next sweep.
	Pending *Alert `json:"pending_alert,omitempty"`
}

// NewState returns an empty state: every target healthy, no history.
func NewState() *State {
	return &State{Version: stateVersion, Targets: map[string]*TargetState{}}
}

// LoadState reads a state file; a missing file is a new state. A file of
// another version is ignored (new state); an unreadable one is an error.
func LoadState(path string) (*State, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return NewState(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read sweep state: %w", err)
	}
	s := NewState()
	if err := json.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("sweep state %s is not valid JSON (%v): delete it to start afresh", path, err)
	}
	if s.Version != stateVersion || s.Targets == nil {
		return NewState(), nil
	}
	return s, nil
}

// Save writes the state atomically (0600), creating its directory.
func (s *State) Save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save sweep state: %w", err)
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := remote.WriteFileAtomic(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("save sweep state: %w", err)
	}
	return nil
}

// Update counts this sweep's result for every probed address and returns
// the alerts of targets that changed state: "down" after failAfter
// consecutive failures, "recovered" after recoverAfter consecutive passes
// of a target that was down. Each new alert is also kept as the target's
// Pending alert until Delivered is called. Targets no longer in the fleet
// are forgotten.
func (s *State) Update(r *Report, failAfter, recoverAfter int, now time.Time) []Alert {
	failAfter, recoverAfter = max(failAfter, 1), max(recoverAfter, 1)
	seen := map[string]bool{}
	var out []Alert
	for _, h := range r.Hosts {
		for _, ft := range []struct {
			family string
			t      Target
		}{{"ipv4", h.IPv4}, {"ipv6", h.IPv6}} {
			if ft.t.Status == StatusSkip || ft.t.Status == StatusDeploying {
				continue // a deploy's drain or restart is no outage
			}
			key := h.Name + "/" + ft.family
			seen[key] = true
			ts := s.Targets[key]
			if ts == nil {
				ts = &TargetState{}
				s.Targets[key] = ts
			}
			ts.Address = ft.t.Address
			var a *Alert
			if ft.t.Status == StatusOK {
				ts.Passes, ts.Failures, ts.LastError = ts.Passes+1, 0, ""
				if ts.Down && ts.Passes >= recoverAfter {
					ts.Down, ts.Since = false, now
					a = newAlert(h.Name, ft.family, ft.t.Address, AlertRecovered, "", now, ts.Passes)
				}
			} else {
				ts.Failures, ts.Passes, ts.LastError = ts.Failures+1, 0, ft.t.Error
				if !ts.Down && ts.Failures >= failAfter {
					ts.Down, ts.Since = true, now
					a = newAlert(h.Name, ft.family, ft.t.Address, AlertDown, ft.t.Error, now, ts.Failures)
				}
			}
			if a == nil {
				continue
			}
			if ts.Pending != nil && ts.Pending.Status == AlertDown && a.Status == AlertRecovered {
				// The outage was never announced; its recovery need not be.
				ts.Pending = nil
				continue
			}
			ts.Pending = a
			out = append(out, *a)
		}
	}
	for key := range s.Targets {
		if !seen[key] {
			delete(s.Targets, key)
		}
	}
	return out
}

// Pending lists the alerts not delivered yet (including this sweep's), in
// a stable order.
func (s *State) Pending() []Alert {
	var out []Alert
	for _, ts := range s.Targets {
		if ts.Pending != nil {
			out = append(out, *ts.Pending)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].Host+out[i].Family < out[j].Host+out[j].Family
	})
	return out
}

// Delivered clears a pending alert once the webhook has taken it.
func (s *State) Delivered(a Alert) {
	if ts := s.Targets[a.Host+"/"+a.Family]; ts != nil && ts.Pending != nil &&
		ts.Pending.Status == a.Status && ts.Pending.Time.Equal(a.Time) {
		ts.Pending = nil
	}
}
