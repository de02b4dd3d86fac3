package certstore

import (
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"
)

// CertStatus describes one certificate directory, for the admin /status.
type CertStatus struct {
	// Name is the directory name under the certificate directory.
	Name string `json:"name"`
	// DNSNames are the names the served certificate is valid for.
	DNSNames []string `json:"dns_names,omitempty"`
	// NotAfter is when the served certificate expires.
	NotAfter time.Time `json:"not_after,omitzero"`
	// Issuer is the served certificate's issuer distinguished name.
	Issuer string `json:"issuer,omitempty"`
	// Serial is the served certificate's serial number in lower-case hex.
	Serial string `json:"serial,omitempty"`
	// Serving tells whether handshakes can get this certificate. It is
	// false for a pair that never loaded; the fields above are then empty.
	Serving bool `json:"serving"`
	// Stale tells that the files on disk are broken (see Error) and the
	// certificate described above is the last good version, still served.
	Stale bool `json:"stale"`
	// Expired tells that the served certificate is past NotAfter. It is
	// still served: an expired certificate beats a failing handshake.
	Expired bool `json:"expired"`
	// Error says what is wrong and what to do about it; empty when the
	// pair loaded and its certificate is valid now.
	Error string `json:"error"`
}

// Status reports every certificate directory as of the last reload, sorted
// by name, with validity judged now. The result is the caller's to keep.
func (s *Store) Status() []CertStatus {
	x := s.idx.Load()
	now := s.now()
	out := make([]CertStatus, 0, len(x.entries))
	for _, e := range x.entries {
		out = append(out, e.status(now))
	}
	return out
}

// status describes e at now.
func (e *entry) status(now time.Time) CertStatus {
	st := CertStatus{Name: e.name}
	var problems []string
	if e.err != nil {
		problems = append(problems, e.err.Error())
	}
	if e.cert != nil {
		leaf := e.cert.Leaf
		st.DNSNames = slices.Clone(leaf.DNSNames)
		st.NotAfter = leaf.NotAfter
		st.Issuer = leaf.Issuer.String()
		st.Serial = serial(leaf)
		st.Serving = true
		st.Stale = e.stale
		if e.stale {
			problems = append(problems, "serving the last good version")
		}
		switch {
		case now.After(leaf.NotAfter):
			st.Expired = true
			problems = append(problems, fmt.Sprintf("expired %s; run edgectl cert renew",
				leaf.NotAfter.UTC().Format(time.RFC3339)))
		case now.Before(leaf.NotBefore):
			problems = append(problems, fmt.Sprintf("not valid before %s; check the host's clock",
				leaf.NotBefore.UTC().Format(time.RFC3339)))
		}
	}
	st.Error = strings.Join(problems, "; ")
	return st
}

// serial formats a certificate's serial number as lower-case hex.
func serial(c *x509.Certificate) string {
	return c.SerialNumber.Text(16)
}
