package proxy

import (
	"net/netip"
	"time"

	"github.com/edgectl/edgectl/agentconfig"
)

// Limits are the client-side bounds the engine enforces (agent.yaml
// limits: and trusted_proxies:). They travel with the Table, so a reload
// changes them for the next request and the next sweep.
type Limits struct {
	// HeaderTimeout bounds reading a request head: from the start of the
	// connection for its first request, from the first byte for later ones.
	HeaderTimeout time.Duration
	// BodyTimeout bounds the wait between two reads of a request body.
	BodyTimeout time.Duration
	// SendTimeout bounds a write to the client that makes no progress.
	SendTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a keepalive
	// connection.
	IdleTimeout time.Duration
	// MaxBody caps a request body in bytes (0 = no cap).
	MaxBody int64
	// Trusted are the peers whose forwarding fields are kept.
	Trusted []netip.Prefix
}

// limitsFrom reads the limits of a validated configuration.
func limitsFrom(cfg *agentconfig.Config) Limits {
	l := cfg.Limits
	return Limits{
		HeaderTimeout: orDefault(l.HeaderTimeout, agentconfig.DefaultHeaderTimeout),
		BodyTimeout:   orDefault(l.BodyTimeout, agentconfig.DefaultBodyTimeout),
		SendTimeout:   orDefault(l.SendTimeout, agentconfig.DefaultSendTimeout),
		IdleTimeout:   orDefault(l.IdleTimeout, agentconfig.DefaultIdleTimeout),
		MaxBody:       l.MaxBody,
		Trusted:       cfg.Trusted(),
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// trusts reports whether a is inside trusted_proxies.
func (l *Limits) trusts(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, p := range l.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// sweepEvery is how often connections are checked against the timeouts:
// a tenth of the shortest one, between 100 ms and one second, so that a
// connection is closed at most 10 % (or one second) after its timeout.
func (l *Limits) sweepEvery() time.Duration {
	shortest := min(l.HeaderTimeout, l.BodyTimeout, l.SendTimeout, l.IdleTimeout)
	return min(max(shortest/10, 100*time.Millisecond), time.Second)
}
