package certs

import (
	"strings"
	"testing"
	"time"
)

func TestRenewalDue(t *testing.T) {
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	na := nb.Add(90 * 24 * time.Hour) // a third is 30 days
	day := 24 * time.Hour
	tests := []struct {
		name   string
		now    time.Time
		ari    *Window
		due    bool
		reason string
	}{
		{"fresh", nb.Add(time.Hour), nil, false, "not due until 2026-03-02"},
		{"just before a third remains", na.Add(-30*day - time.Minute), nil, false, "not due"},
		{"a third remains", na.Add(-30 * day), nil, true, "a third of the lifetime"},
		{"expired", na.Add(time.Hour), nil, true, "expired"},
		{"ARI window open early", nb.Add(10 * day), &Window{Start: nb.Add(9 * day), End: nb.Add(11 * day)}, true, "ARI"},
		{"ARI window not yet open", nb.Add(10 * day), &Window{Start: nb.Add(50 * day), End: nb.Add(52 * day)}, false, "not due until 2026-02-20"},
		{"ARI window later than the rule", na.Add(-20 * day), &Window{Start: na.Add(-5 * day), End: na}, true, "a third"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			due, reason := RenewalDue(tt.now, nb, na, tt.ari)
			if due != tt.due || !strings.Contains(reason, tt.reason) {
				t.Errorf("RenewalDue = %v, %q; want %v, …%q…", due, reason, tt.due, tt.reason)
			}
		})
	}
}
