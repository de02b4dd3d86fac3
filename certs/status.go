package certs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"
)

// NameStatus is the state of one certificate across the fleet.
type NameStatus struct {
	Name    string   `json:"name"`
	Domains []string `json:"domains"`
	// Local is false when the state directory holds no certificate for
	// the name (then Serial, Issuer and the dates are empty).
	Local    bool      `json:"local"`
	Serial   string    `json:"serial,omitempty"`
	Issuer   string    `json:"issuer,omitempty"`
	NotAfter time.Time `json:"not_after,omitzero"`
	DaysLeft int       `json:"days_left"`
	// Due says whether renew would renew now, by the one-third rule.
	Due   bool        `json:"renewal_due"`
	Addrs []AddrCheck `json:"addrs"`
}

// OK reports whether every address serves the stored certificate.
func (n *NameStatus) OK() bool {
	if !n.Local {
		return false
	}
	for _, a := range n.Addrs {
		if !a.OK {
			return false
		}
	}
	return true
}

// Stale lists the addresses that serve another certificate or none.
func (n *NameStatus) Stale() []AddrCheck {
	var out []AddrCheck
	for _, a := range n.Addrs {
		if !a.OK {
			out = append(out, a)
		}
	}
	return out
}

// Status reports the fleet's certificate: the stored one (days left,
// issuer) and, for every host address, the serial served on the TLS port
// with SNI = the name. It logs in nowhere and places no order.
func Status(ctx context.Context, c Config) (*NameStatus, error) {
	if err := c.defaults(); err != nil {
		return nil, err
	}
	name := CertName(c.Domains[0])
	st := &NameStatus{Name: name, Domains: c.Domains, Addrs: []AddrCheck{}}
	cur, err := c.State.LoadCert(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		cur = &StoredCert{Meta: CertMeta{Name: name, Domains: c.Domains}}
	case err != nil:
		return nil, err
	default:
		st.Local = true
		st.Domains = cur.Meta.Domains
		st.Serial, st.Issuer, st.NotAfter = cur.Meta.Serial, cur.Meta.Issuer, cur.Leaf.NotAfter
		st.DaysLeft = int(cur.Leaf.NotAfter.Sub(c.Now()).Hours() / 24)
		st.Due, _ = RenewalDue(c.Now(), cur.Leaf.NotBefore, cur.Leaf.NotAfter, nil)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, h := range c.Fleet.Hosts {
		for _, a := range hostAddrs(h) {
			wg.Go(func() {
				ac := serveCheck(ctx, &c, cur, h.Name, a.String())
				if !st.Local && ac.Serial != "" {
					ac.Stale, ac.Problem = false, fmt.Sprintf("no local certificate to compare with (state %s)", c.State.Dir)
				}
				mu.Lock()
				st.Addrs = append(st.Addrs, ac)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	sortChecks(&c, st.Addrs)
	return st, nil
}
