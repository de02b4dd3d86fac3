package sweep

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// report is a one-host report whose ipv4 passes or fails and whose ipv6 is
// skipped.
func report(ok bool) *Report {
	t := Target{Status: StatusOK, Address: "198.18.0.11:443"}
	if !ok {
		t = Target{Status: StatusFail, Address: "198.18.0.11:443", Kind: "refused", Error: "connection refused"}
	}
	return &Report{Hosts: []HostReport{{Name: "edge-1", IPv4: t, IPv6: Target{Status: StatusSkip}}}}
}

func TestStateTransitions(t *testing.T) {
	for _, tc := range []struct {
		name string
		runs string // one letter per sweep: p pass, f fail
		want string // alerts per sweep: - none, d down, r recovered
	}{
		{"healthy stays quiet", "pppp", "----"},
		{"one blip does not alert", "fpfp", "----"},
		{"down after fail_after, once", "ffffff", "--d---"},
		{"recovery after recover_after, once", "fffpppp", "--d-r--"},
		{"a pass resets the failure count", "ffpfff", "-----d"},
		{"a failure resets the pass count", "fffpfpp", "--d---r"},
		{"flapping after down stays down", "fffpfpf", "--d----"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewState()
			now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			var got strings.Builder
			for _, r := range tc.runs {
				now = now.Add(time.Minute)
				alerts := s.Update(report(r == 'p'), 3, 2, now)
				switch {
				case len(alerts) == 0:
					got.WriteByte('-')
				case len(alerts) > 1:
					t.Fatalf("%d alerts for one target", len(alerts))
				case alerts[0].Status == AlertDown:
					got.WriteByte('d')
				default:
					got.WriteByte('r')
				}
				s.Deliver(t.Context(), nil)
			}
			if got.String() != tc.want {
				t.Fatalf("alerts %s, want %s", got.String(), tc.want)
			}
		})
	}
}

func TestStatePendingAndPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "sweep.json")
	s, err := LoadState(path)
	if err != nil || len(s.Targets) != 0 {
		t.Fatalf("missing file: %v %+v", err, s)
	}
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	a := s.Update(report(false), 1, 1, now)
	if len(a) != 1 || a[0].Status != AlertDown || !strings.Contains(a[0].Text, "edge-1 IPv4 198.18.0.11:443 is DOWN") {
		t.Fatalf("alerts %+v", a)
	}
	// Not delivered: it survives a save and load and is offered again.
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	s, err = LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if p := s.Pending(); len(p) != 1 || p[0].Status != AlertDown {
		t.Fatalf("pending after reload %+v", p)
	}
	if a := s.Update(report(false), 1, 1, now.Add(time.Minute)); len(a) != 0 {
		t.Fatalf("still down must not alert again: %+v", a)
	}
	// Recovered before the down alert went out: neither is sent.
	if a := s.Update(report(true), 1, 1, now.Add(2*time.Minute)); len(a) != 0 || len(s.Pending()) != 0 {
		t.Fatalf("unannounced outage: alerts %+v pending %+v", a, s.Pending())
	}
	// Hosts that left the fleet are forgotten.
	s.Update(&Report{}, 1, 1, now)
	if len(s.Targets) != 0 {
		t.Fatalf("targets %+v", s.Targets)
	}
}

// TestCorruptStateMovedAside: a state file that is not JSON does not fail
// every later run: it is kept as <file>.corrupt-<time> and a new state
// starts, with a warning.
func TestCorruptStateMovedAside(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := LoadState(path)
	if err != nil || s == nil || len(s.Targets) != 0 || !strings.Contains(s.Recovered, "moved it to "+path+".corrupt-") {
		t.Fatalf("LoadState = %+v, %v", s, err)
	}
	aside, _ := filepath.Glob(path + ".corrupt-*")
	if len(aside) != 1 {
		t.Fatalf("corrupt file not kept aside: %v", aside)
	}
	if b, _ := os.ReadFile(aside[0]); string(b) != "{not json" {
		t.Errorf("the file aside holds %q", b)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the corrupt file is still at %s", path)
	}
}
