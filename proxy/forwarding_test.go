package proxy

import (
	"testing"
	"time"
)

// TestForwardingTrust: a client outside trusted_proxies cannot choose what
// the server believes about it; a trusted proxy's fields are kept and
// extended.
func TestForwardingTrust(t *testing.T) {
	spoof := "GET / HTTP/1.1\r\nHost: api.test:8080\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-For: 203.0.113.10\r\n" +
		"X-Real-IP: 203.0.113.9\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: bank.test\r\n" +
		"Forwarded: for=203.0.113.9;proto=https\r\n\r\n"
	tests := []struct {
		name    string
		trusted string
		want    map[string]string
	}{
		{"untrusted: everything replaced by what the agent saw", "", map[string]string{
			"X-Forwarded-For":   "127.0.0.1",
			"X-Real-IP":         "127.0.0.1",
			"X-Forwarded-Proto": "http",
			"X-Forwarded-Host":  "api.test:8080",
			"Forwarded":         `for=127.0.0.1;host="api.test:8080";proto=http`,
		}},
		{"trusted elsewhere: still replaced", "trusted_proxies: [198.18.0.0/15]\n", map[string]string{
			"X-Forwarded-For": "127.0.0.1",
			"X-Real-IP":       "127.0.0.1",
		}},
		{"trusted peer: kept and appended", "trusted_proxies: [127.0.0.0/8]\n", map[string]string{
			"X-Forwarded-For":   "203.0.113.9, 203.0.113.10, 127.0.0.1",
			"X-Real-IP":         "203.0.113.9",
			"X-Forwarded-Proto": "https",
			"X-Forwarded-Host":  "bank.test",
			"Forwarded":         `for=203.0.113.9;proto=https, for=127.0.0.1;host="api.test:8080";proto=http`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startRawBackend(t, nil)
			p := startProxy(t, tt.trusted+pool([]string{b.addr}, ""))
			if st := statusOf(rawExchange(t, p.addr, spoof, 300*time.Millisecond)); st != 200 {
				t.Fatalf("status %d", st)
			}
			reqs := b.requests()
			if len(reqs) != 1 {
				t.Fatalf("backend saw %d requests", len(reqs))
			}
			for k, want := range tt.want {
				got, _ := rawField(reqs[0], k)
				if got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			// Each forwarding field is written once.
			for _, k := range []string{"X-Forwarded-For", "X-Real-IP", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded"} {
				if n := countFields(reqs[0], k); n != 1 {
					t.Errorf("%s appears %d times:\n%s", k, n, reqs[0])
				}
			}
		})
	}
}

func countFields(head, name string) int {
	n := 0
	for _, line := range splitLines(head)[1:] {
		if k, _, ok := cutColon(line); ok && equalFold(k, name) {
			n++
		}
	}
	return n
}
