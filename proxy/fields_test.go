package proxy

import (
	"strings"
	"testing"
)

// TestValidFieldValue checks the eight-bytes-at-a-time scan against the
// byte loop: every byte value at every position of values of every length
// up to 24 (so each lane of each word, and the tail, sees every byte).
func TestValidFieldValue(t *testing.T) {
	for n := 1; n <= 24; n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				v := []byte(strings.Repeat("a", n))
				v[pos] = byte(c)
				want := (c >= 0x20 && c != 0x7f) || c == '\t'
				if got := validFieldValue(v); got != want || validValueBytes(v) != want {
					t.Fatalf("byte %#x at %d of %d: validFieldValue = %v, want %v", c, pos, n, got, want)
				}
			}
		}
	}
	if !validFieldValue(nil) {
		t.Error("an empty value is valid")
	}
}

func TestFieldClasses(t *testing.T) {
	for _, tt := range []struct {
		name                  string
		protected, forwarding bool
	}{
		{"Host", true, false}, {"content-length", true, false}, {"Transfer-Encoding", true, false},
		{"X-Forwarded-For", true, true}, {"x-forwarded-proto", true, true}, {"X-Forwarded-Host", true, true},
		{"X-Real-IP", true, true}, {"Forwarded", true, true},
		{"X-Custom", false, false}, {"Cookie", false, false}, {"Upgrade", false, false},
	} {
		if got := protectedField([]byte(tt.name)); got != tt.protected {
			t.Errorf("protectedField(%q) = %v", tt.name, got)
		}
		if got := forwardingField([]byte(tt.name)); got != tt.forwarding {
			t.Errorf("forwardingField(%q) = %v", tt.name, got)
		}
	}
	for target, ok := range map[string]bool{"/": true, "/a?b=c": true, "/caf\xc3\xa9": true, "*": true,
		"": false, "/a b": false, "/a\tb": false, "/a\x00": false, "/a\x7f": false, "/a\rb": false, "/a#b": false} {
		if got := validTarget([]byte(target)); got != ok {
			t.Errorf("validTarget(%q) = %v, want %v", target, got, ok)
		}
	}
}
