package proxy

import (
	"strings"
	"testing"
)

// TestHeadScan: the event loop's head scanner finds the same head as
// readHead whatever the pieces the bytes arrive in, and looks at each
// byte once.
func TestHeadScan(t *testing.T) {
	tests := []struct {
		name, in   string
		start, end int // end 0: incomplete
	}{
		{"crlf", "GET / HTTP/1.1\r\nHost: a\r\n\r\nNEXT", 0, 27},
		{"bare lf", "GET / HTTP/1.1\nHost: a\n\nNEXT", 0, 24},
		{"blank lines first", "\r\n\nGET / HTTP/1.1\r\n\r\n", 3, 21},
		{"incomplete", "GET / HTTP/1.1\r\nHost: a\r\n", 0, 0},
		{"only blank lines", "\r\n\r\n", 4, 0},
		{"cr alone is not blank", "GET / HTTP/1.1\r\n\r\r\n\r\n", 0, 21},
	}
	for _, tt := range tests {
		for piece := 1; piece <= len(tt.in); piece++ {
			var s headScan
			var start, end int
			var ok bool
			for n := piece; ; n += piece {
				n = min(n, len(tt.in))
				start, end, ok = s.find([]byte(tt.in[:n]))
				if ok || n == len(tt.in) {
					break
				}
			}
			if !ok {
				end = 0
			}
			if start != tt.start || end != tt.end {
				t.Errorf("%s in pieces of %d: head [%d:%d], want [%d:%d]", tt.name, piece, start, end, tt.start, tt.end)
			}
		}
	}
	// A head trickling in a byte at a time is scanned in linear time.
	big := "GET / HTTP/1.1\r\n" + strings.Repeat("X-A: b\r\n", 8000)
	var s headScan
	for n := 1; n <= len(big); n++ {
		s.find([]byte(big[:n]))
	}
	if s.pos != len(big) {
		t.Fatalf("scanned to %d of %d", s.pos, len(big))
	}
}
