package certstore

import (
	"crypto/tls"
	"fmt"
	"strings"
	"time"
)

// entry is one certificate directory as last loaded.
type entry struct {
	name string
	// cert is the version being served, with Leaf set; nil when the
	// directory never held a pair that loaded.
	cert *tls.Certificate
	// err is why the files on disk did not load; nil when they did.
	err error
	// stale is set when err is and cert is the last good version.
	stale bool
}

// index is an immutable snapshot of the store, swapped atomically on reload.
type index struct {
	entries  []*entry                    // sorted by name
	byName   map[string]*entry           // directory name → entry
	exact    map[string]*tls.Certificate // lower-case DNS name
	wildcard map[string]*tls.Certificate // "example.com" for "*.example.com"
	def      *tls.Certificate            // nil: nothing to serve
	noCert   error                       // returned while def is nil
	broken   int                         // entries with err set
}

// buildIndex indexes entries, sorted by name, as of now.
func buildIndex(dir string, entries []*entry, now time.Time) *index {
	x := &index{
		entries:  entries,
		byName:   make(map[string]*entry, len(entries)),
		exact:    make(map[string]*tls.Certificate),
		wildcard: make(map[string]*tls.Certificate),
	}
	var firstBroken *entry
	for _, e := range entries {
		x.byName[e.name] = e
		if e.err != nil {
			x.broken++
			if firstBroken == nil {
				firstBroken = e
			}
		}
		if e.cert == nil {
			continue
		}
		if x.def == nil || e.name == DefaultName {
			x.def = e.cert
		}
		for _, dns := range e.cert.Leaf.DNSNames {
			m, key := x.exact, normalize(dns)
			if rest, ok := strings.CutPrefix(key, "*."); ok {
				m, key = x.wildcard, rest
			}
			if old, ok := m[key]; ok && !(expired(old, now) && !expired(e.cert, now)) {
				continue
			}
			m[key] = e.cert
		}
	}
	switch {
	case x.def != nil:
	case firstBroken != nil:
		x.noCert = fmt.Errorf("%w in %s that loads (%s: %v); fix the files or run edgectl cert issue",
			ErrNoCertificate, dir, firstBroken.name, firstBroken.err)
	default:
		x.noCert = fmt.Errorf("%w in %s yet; run edgectl cert issue", ErrNoCertificate, dir)
	}
	return x
}

// lookup returns the certificate for an SNI name ("" without SNI), or nil
// when there is none at all.
func (x *index) lookup(serverName string) *tls.Certificate {
	name := normalize(serverName)
	if name != "" {
		if c := x.exact[name]; c != nil {
			return c
		}
		if i := strings.IndexByte(name, '.'); i > 0 {
			if c := x.wildcard[name[i+1:]]; c != nil {
				return c
			}
		}
	}
	return x.def
}

// get returns the entry for a directory name; x may be nil (first load).
func (x *index) get(name string) *entry {
	if x == nil {
		return nil
	}
	return x.byName[name]
}

// normalize makes a DNS name comparable: lower case, no trailing dot.
func normalize(name string) string {
	return strings.TrimSuffix(strings.ToLower(name), ".")
}

// expired reports whether c's leaf is past its NotAfter at now.
func expired(c *tls.Certificate, now time.Time) bool {
	return now.After(c.Leaf.NotAfter)
}
