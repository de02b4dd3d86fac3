package proxy

import (
	"net"
	"testing"
	"time"
)

// TestIdlePoolSurplus checks that the pool keeps connections beyond
// keepalive for surplusIdle (a burst's connections are reused by the next
// burst instead of being closed and dialed again), then closes the oldest
// surplus, and always closes what passed keepalive_timeout.
func TestIdlePoolSurplus(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name     string
		ages     []time.Duration // oldest first, as the LIFO stack holds them
		max      int
		wantKept int
	}{
		{"under keepalive", []time.Duration{5 * time.Second, time.Second}, 4, 2},
		{"fresh surplus kept", []time.Duration{500 * time.Millisecond, 400 * time.Millisecond, 100 * time.Millisecond}, 1, 3},
		{"idle surplus closed", []time.Duration{3 * time.Second, 2 * time.Second, 100 * time.Millisecond}, 1, 1},
		{"only the surplus part", []time.Duration{3 * time.Second, 2 * time.Second, 2 * time.Second}, 2, 2},
		{"keepalive_timeout wins", []time.Duration{2 * time.Minute, time.Millisecond}, 4, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ip idlePool
			var closed []net.Conn
			for _, age := range tt.ages {
				a, b := net.Pipe()
				closed = append(closed, b)
				ip.conns = append(ip.conns, &upConn{Conn: a, idleSince: now.Add(-age)})
			}
			ip.reap(now, time.Minute, tt.max)
			if got := ip.len(); got != tt.wantKept {
				t.Fatalf("kept %d connections, want %d", got, tt.wantKept)
			}
			// The ones kept are the newest.
			for i, c := range ip.conns {
				if want := now.Add(-tt.ages[len(tt.ages)-tt.wantKept+i]); !c.idleSince.Equal(want) {
					t.Errorf("kept connection %d idle since %v, want %v", i, c.idleSince, want)
				}
			}
			ip.closeAll()
			for _, b := range closed {
				_ = b.Close()
			}
		})
	}
}

// TestIdlePoolPutCap checks the surplus cap: put closes a connection when
// keepalive plus maxSurplus are idle already.
func TestIdlePoolPutCap(t *testing.T) {
	var ip idlePool
	now := time.Now()
	for i := 0; i < 2+maxSurplus+3; i++ {
		a, b := net.Pipe()
		defer b.Close()
		ip.put(&upConn{Conn: a}, 2, now)
	}
	if got := ip.len(); got != 2+maxSurplus {
		t.Fatalf("pool holds %d, want keepalive+maxSurplus = %d", got, 2+maxSurplus)
	}
	ip.closeAll()
}
