package sweep

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/edgectl/edgectl/notify"
	"github.com/edgectl/edgectl/remote"
)

// stateVersion is written into state files. Version 1 files (counts only)
// are read as they are; any other version is started afresh rather than
// misread.
const stateVersion = 2

// maxOutbox bounds the undelivered alerts kept; the oldest go first.
const maxOutbox = 200

// maxDNSLog bounds the DNS changes remembered.
const maxDNSLog = 100

// State remembers, across sweeps, every host+family's consecutive failures
// and passes and whether it is currently considered down, the last level
// of every other watched condition, the DNS changes made, and the alerts
// not delivered yet. It is what turns a cron job into an alerter that
// speaks only on transitions.
type State struct {
	Version int `json:"version"`
	// Targets is keyed by "host/family" (e.g. "edge-2/ipv6").
	Targets map[string]*TargetState `json:"targets"`
	// Conditions holds the last level of each other watched thing, keyed
	// by kind and subject: "origin/HOST" (ok, degraded), "cert/HOST" (ok,
	// warn, fail), "drift/NAME/ADDR" and "refused/NAME/ADDR" (present).
	Conditions map[string]string `json:"conditions"`
	// DNSLog lists the DNS changes sweep --dns made, the latest last.
	DNSLog []DNSLogEntry `json:"dns_log,omitempty"`
	// Deploys are the hosts sweep --dns saw deploying, kept while their
	// records are out of DNS, up to the deploy's maximum time: until then
	// they count as deploying (deploys.go).
	Deploys map[string]DeployMemory `json:"deploys,omitempty"`
	// Outbox holds alerts some notifier has not taken yet; they are
	// retried on the next sweep.
	Outbox []Outgoing `json:"outbox,omitempty"`
	// Recovered, when set, says that LoadState found the file corrupt,
	// moved it aside and started afresh: a warning for the operator.
	Recovered string `json:"-"`
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
}

// DNSLogEntry is one DNS change made by sweep --dns.
type DNSLogEntry struct {
	Time   time.Time `json:"time"`
	Op     string    `json:"op"`
	Record string    `json:"record"`
	Host   string    `json:"host,omitempty"`
	Reason string    `json:"reason"`
}

// Outgoing is an alert and the notifiers that still have to take it
// (nil: every notifier, not tried yet).
type Outgoing struct {
	Alert Alert    `json:"alert"`
	To    []string `json:"to,omitempty"`
	Tried bool     `json:"tried,omitempty"`
}

// NewState returns an empty state: every target healthy, no history.
func NewState() *State {
	return &State{Version: stateVersion, Targets: map[string]*TargetState{}, Conditions: map[string]string{}}
}

// LoadState reads a state file; a missing file is a new state. A file of
// another version is ignored (new state). A file that is not valid JSON is
// renamed to <file>.corrupt-<time> and a new state is returned with
// Recovered saying so, so that one bad write does not fail every later
// cron run; a file that cannot be read is an error.
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
		aside := path + ".corrupt-" + time.Now().UTC().Format("20060102T150405Z")
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("sweep state %s is not valid JSON (%v) and cannot be moved aside: %w", path, err, rerr)
		}
		s = NewState()
		s.Recovered = fmt.Sprintf("sweep state %s was not valid JSON (%v); moved it to %s and started afresh (alert counters reset)", path, err, aside)
		return s, nil
	}
	if (s.Version != stateVersion && s.Version != 1) || s.Targets == nil {
		return NewState(), nil
	}
	s.Version = stateVersion
	if s.Conditions == nil {
		s.Conditions = map[string]string{}
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

// Update counts this sweep's result for every probed address and judges
// the other watched conditions, and returns the alerts of what changed:
// an address "down" after failAfter consecutive failures and "recovered"
// after recoverAfter consecutive passes; an agent whose origin is down
// ("degraded") or back; a certificate crossing 14 or 3 days left (or
// refused) or fine again; a record in DNS that is no fleet address
// appearing or going away. Each alert is also queued in the outbox until
// every notifier took it. Hosts no longer in the fleet are forgotten.
// First, hosts an earlier sweep --dns saw deploying whose records are
// still out of DNS are marked deploying in r (State.Deploys).
func (s *State) Update(r *Report, failAfter, recoverAfter int, now time.Time) []Alert {
	failAfter, recoverAfter = max(failAfter, 1), max(recoverAfter, 1)
	s.shieldDeploys(r, now)
	seen := map[string]bool{}
	var out []Alert
	hosts := map[string]bool{}
	for _, h := range r.Hosts {
		hosts[h.Name] = true
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
			if ft.t.Status == StatusOK {
				ts.Passes, ts.Failures, ts.LastError = ts.Passes+1, 0, ""
				if ts.Down && ts.Passes >= recoverAfter {
					ts.Down, ts.Since = false, now
					out = append(out, addressEvent(h.Name, ft.family, ft.t.Address, AlertRecovered, "", now, ts.Passes))
				}
			} else {
				ts.Failures, ts.Passes, ts.LastError = ts.Failures+1, 0, ft.t.Error
				if !ts.Down && ts.Failures >= failAfter {
					ts.Down, ts.Since = true, now
					out = append(out, addressEvent(h.Name, ft.family, ft.t.Address, AlertDown, ft.t.Error, now, ts.Failures))
				}
			}
		}
		out = append(out, s.hostConditions(h, now)...)
	}
	for key := range s.Targets {
		if !seen[key] {
			delete(s.Targets, key)
		}
	}
	for key := range s.Conditions {
		if kind, host, _ := strings.Cut(key, "/"); (kind == "origin" || kind == "cert") && !hosts[host] {
			delete(s.Conditions, key)
		}
	}
	if r.DNS.Status != StatusSkip && r.DNS.Error == "" {
		var drift []string
		for _, d := range r.DNS.Domains {
			for _, a := range d.Unexpected {
				drift = append(drift, d.Name+"/"+a)
			}
		}
		out = append(out, s.setOf("drift", drift, func(key, status string) Alert {
			name, addr, _ := strings.Cut(key, "/")
			return driftEvent(name, addr, status, now)
		})...)
	}
	return s.queue(out...)
}

// hostConditions judges a host's origin and certificate.
func (s *State) hostConditions(h HostReport, now time.Time) []Alert {
	var out []Alert
	live := h.IPv4.Status == StatusOK || h.IPv6.Status == StatusOK
	if live {
		level, detail := StatusOK, ""
		for _, u := range h.Upstreams {
			if u.Live == 0 && u.Total > 0 {
				level = StatusDegraded
				detail = fmt.Sprintf("upstream %s has no live server (0/%d): the agent answers 503 for its routes", u.Name, u.Total)
				break
			}
		}
		key := "origin/" + h.Name
		prev, known := s.Conditions[key]
		s.Conditions[key] = level
		if prev != level && (known || level != StatusOK) {
			status := StatusDegraded
			if level == StatusOK {
				status = AlertRecovered
			}
			out = append(out, originEvent(h.Name, status, detail, now))
		}
	}
	if h.TLS != nil {
		key := "cert/" + h.Name
		prev, known := s.Conditions[key]
		s.Conditions[key] = h.TLS.Status
		if prev != h.TLS.Status && (known || h.TLS.Status != StatusOK) {
			out = append(out, certEvent(h.Name, h.TLS, now))
		}
	}
	return out
}

// setOf tracks a set of present conditions of one kind ("drift",
// "refused"): a key that appears alerts with status DNSDrift/DNSRefused
// (through mk), one that goes away with DNSCleared.
func (s *State) setOf(kind string, present []string, mk func(key, status string) Alert) []Alert {
	var out []Alert
	here := map[string]bool{}
	on := DNSDrift
	if kind == "refused" {
		on = DNSRefused
	}
	for _, k := range present {
		here[k] = true
		if _, known := s.Conditions[kind+"/"+k]; !known {
			s.Conditions[kind+"/"+k] = on
			out = append(out, mk(k, on))
		}
	}
	var gone []string
	for key := range s.Conditions {
		if k, ok := strings.CutPrefix(key, kind+"/"); ok && !here[k] {
			gone = append(gone, k)
		}
	}
	sort.Strings(gone)
	for _, k := range gone {
		delete(s.Conditions, kind+"/"+k)
		out = append(out, mk(k, DNSCleared))
	}
	return out
}

// queue adds alerts to the outbox and returns those it kept. An
// undelivered alert about the same thing is replaced by the newer one, and
// a problem that was never announced is not announced as gone either.
func (s *State) queue(alerts ...Alert) []Alert {
	var kept []Alert
	for _, a := range alerts {
		replaced := false
		for i := range s.Outbox {
			old := &s.Outbox[i]
			if old.Alert.Key() != a.Key() || old.Tried {
				continue
			}
			if old.Alert.Severity != notify.SeverityInfo && a.Severity == notify.SeverityInfo {
				s.Outbox = append(s.Outbox[:i], s.Outbox[i+1:]...)
			} else {
				old.Alert = a
				kept = append(kept, a)
			}
			replaced = true
			break
		}
		if !replaced {
			s.Outbox = append(s.Outbox, Outgoing{Alert: a})
			kept = append(kept, a)
		}
	}
	if n := len(s.Outbox); n > maxOutbox {
		s.Outbox = s.Outbox[n-maxOutbox:]
	}
	return kept
}

// Pending lists the alerts not delivered yet (including this sweep's), in
// order.
func (s *State) Pending() []Alert {
	out := make([]Alert, 0, len(s.Outbox))
	for _, o := range s.Outbox {
		out = append(out, o.Alert)
	}
	return out
}
