package certstore

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultDir is where the agent looks for certificates when agent.yaml does
// not set tls.certs_dir.
const DefaultDir = "/etc/edgectl/certs"

// DefaultName is the directory name of the certificate that answers
// handshakes whose SNI name matches no certificate (and those without SNI).
// Without such a directory the one whose name sorts first does.
const DefaultName = "default"

// The files every certificate directory holds.
const (
	// ChainFile holds the leaf certificate followed by its intermediates.
	ChainFile = "fullchain.pem"
	// KeyFile holds the leaf's private key.
	KeyFile = "privkey.pem"
)

// ErrNoCertificate is returned (wrapped, with the reason and what to do) by
// GetCertificate while the store has no certificate it can serve.
var ErrNoCertificate = errors.New("no certificate")

// noCertLogEvery limits how often a failing handshake is logged.
const noCertLogEvery = 30 * time.Second

// Store serves the certificates of one directory. Create it with Open.
// All methods are safe for concurrent use.
type Store struct {
	dir string
	log *slog.Logger
	now func() time.Time

	idx           atomic.Pointer[index]
	lastNoCertLog atomic.Int64 // unix nanoseconds

	mu        sync.Mutex // serialises reloads and guards the fields below
	loaded    []stamp    // the files the current index was read from
	loadedAt  time.Time
	racyUntil time.Time // reload once more at this time (see reloadLocked)
}

// Open loads the certificates under dir, typically DefaultDir. A missing or
// empty directory is fine: the store then answers handshakes with an error
// until a certificate appears and Reload or Watch picks it up. Pairs that
// fail to load are logged and reported by Status, not returned. Open fails
// only when dir exists but cannot be read. A nil log discards messages.
func Open(dir string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{dir: dir, log: log, now: time.Now}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Dir returns the directory the store reads.
func (s *Store) Dir() string { return s.dir }

// Reload re-reads the directory and swaps the new certificates in; the
// handshakes that start afterwards use them. A pair that is broken now but
// loaded before keeps its last good version. Reload returns an error only
// when the directory cannot be read, and then changes nothing.
func (s *Store) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reloadLocked()
}

// reloadLocked does Reload with s.mu held.
func (s *Store) reloadLocked() error {
	start := s.now()
	snap, err := scan(s.dir)
	if err != nil {
		return fmt.Errorf("read certificate directory: %w", err)
	}
	prev := s.idx.Load()
	entries := make([]*entry, 0, len(snap.names))
	for _, name := range snap.names {
		entries = append(entries, loadEntry(s.dir, name, prev.get(name)))
	}
	next := buildIndex(s.dir, entries, start)
	s.logChanges(prev, next)
	s.idx.Store(next)

	s.loaded, s.loadedAt = snap.files, start
	// A file rewritten within its filesystem's timestamp granularity of the
	// scan may look unchanged to the next one; read everything once more
	// after that window has passed (git's "racy" entries).
	s.racyUntil = time.Time{}
	if until := snap.newest.Add(racyWindow); start.Before(until) {
		s.racyUntil = until
	}
	return nil
}

// TLSConfig returns a server configuration that takes its certificates from
// the store: TLS 1.2 at least, HTTP/2 and HTTP/1.1 offered through ALPN.
// Each call returns a new Config the caller may adjust.
func (s *Store) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: s.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// GetCertificate returns the certificate for a handshake, for
// tls.Config.GetCertificate: by exact SNI name, then by wildcard, then the
// default certificate. With no certificate to serve it returns an error
// wrapping ErrNoCertificate that explains why, and logs it at most once
// every 30 seconds.
func (s *Store) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	var name string
	if hello != nil {
		name = hello.ServerName
	}
	x := s.idx.Load()
	if c := x.lookup(name); c != nil {
		return c, nil
	}
	s.logNoCertificate(hello, x.noCert)
	return nil, x.noCert
}

// logNoCertificate logs a failed handshake unless one was logged less than
// noCertLogEvery ago.
func (s *Store) logNoCertificate(hello *tls.ClientHelloInfo, err error) {
	now := s.now().UnixNano()
	last := s.lastNoCertLog.Load()
	if last != 0 && now-last < int64(noCertLogEvery) {
		return
	}
	if !s.lastNoCertLog.CompareAndSwap(last, now) {
		return // another handshake is logging it
	}
	attrs := []any{"err", err}
	if hello != nil {
		attrs = append(attrs, "server_name", hello.ServerName)
		if hello.Conn != nil {
			attrs = append(attrs, "remote", hello.Conn.RemoteAddr().String())
		}
	}
	s.log.Warn("TLS handshake failed", attrs...)
}
