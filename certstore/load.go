package certstore

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// loadEntry loads the pair in dir/name. When it is broken and prev served a
// certificate, the entry keeps serving that one.
func loadEntry(dir, name string, prev *entry) *entry {
	cert, err := loadPair(filepath.Join(dir, name))
	if err == nil {
		if prev != nil && prev.cert != nil && sameCert(prev.cert, cert) {
			cert = prev.cert // unchanged: keep the pointer the handshakes use
		}
		return &entry{name: name, cert: cert}
	}
	e := &entry{name: name, err: err}
	if prev != nil && prev.cert != nil {
		e.cert, e.stale = prev.cert, true
	}
	return e
}

// loadPair reads and parses the ChainFile and KeyFile in dir. It checks
// that the key matches the leaf, nothing about file modes or owners.
func loadPair(dir string) (*tls.Certificate, error) {
	chain, err := readFile(dir, ChainFile)
	if err != nil {
		return nil, err
	}
	key, err := readFile(dir, KeyFile)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(chain, key)
	if err != nil {
		return nil, fmt.Errorf("load %s and %s: %w", ChainFile, KeyFile, err)
	}
	if cert.Leaf == nil { // only with GODEBUG=x509keypairleaf=0
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("parse %s: %w", ChainFile, err)
		}
	}
	return &cert, nil
}

// readFile reads dir/name with an error that says what to do about it.
func readFile(dir, name string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s is missing: %w", name, err)
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("%w; it must be readable by the user the agent runs as", err)
	case err != nil:
		return nil, err
	case len(b) == 0:
		return nil, fmt.Errorf("%s is empty", name)
	}
	return b, nil
}

// sameCert reports whether a and b hold the same leaf.
func sameCert(a, b *tls.Certificate) bool {
	return bytes.Equal(a.Leaf.Raw, b.Leaf.Raw)
}

// logChanges logs what a reload changed: certificates loaded, renewed,
// broken or removed, and the store running out of certificates.
func (s *Store) logChanges(prev, next *index) {
	now := s.now()
	for _, e := range next.entries {
		p := prev.get(e.name)
		switch {
		case e.err != nil:
			if p != nil && p.err != nil && p.err.Error() == e.err.Error() {
				continue // already reported
			}
			if e.stale {
				s.log.Warn("certificate files broken; serving the last good version",
					"name", e.name, "err", e.err, "serial", serial(e.cert.Leaf))
			} else {
				s.log.Error("certificate files broken; not serving them", "name", e.name, "err", e.err)
			}
		case p == nil || p.err != nil || p.cert != e.cert:
			leaf := e.cert.Leaf
			s.log.Info("certificate loaded", "name", e.name, "dns_names", leaf.DNSNames,
				"serial", serial(leaf), "not_after", leaf.NotAfter)
			if expired(e.cert, now) {
				s.log.Warn("certificate expired; serving it anyway", "name", e.name,
					"not_after", leaf.NotAfter, "hint", "run edgectl cert renew")
			}
		}
	}
	if prev != nil {
		for _, p := range prev.entries {
			if next.get(p.name) == nil {
				s.log.Info("certificate removed", "name", p.name)
			}
		}
	}
	if next.def == nil && (prev == nil || prev.def != nil) {
		s.log.Info("no TLS certificate to serve; TLS handshakes fail until one appears", "reason", next.noCert)
	}
}
