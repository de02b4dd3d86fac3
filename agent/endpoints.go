package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/edgectl/edgectl/agentconfig"
	"github.com/edgectl/edgectl/endpoints"
	"github.com/edgectl/edgectl/proxy"
)

// defaultEndpointsPoll is how often watch looks at the endpoints file when
// given no interval.
const defaultEndpointsPoll = time.Second

// EndpointsStatus describes the served endpoints list in the admin /status.
type EndpointsStatus struct {
	// File is the endpoints.txt being served.
	File string `json:"file"`
	// Path is the URL path clients fetch the list from.
	Path string `json:"path"`
	// Domains and IPs count the entries of the list being served.
	Domains int `json:"domains"`
	IPs     int `json:"ips"`
	// Loaded is when the list being served was read; zero if none ever was.
	Loaded time.Time `json:"loaded,omitzero"`
	// ETag is the list's current entity tag, quotes included.
	ETag string `json:"etag,omitempty"`
	// Error is why the file's current content is not being served (it
	// names the file and line), empty when it is.
	Error string `json:"error,omitempty"`
}

// endpointsService serves the client failover JSON rendered from the
// endpoints file at cfg.Path, and reloads it when the file changes. An
// invalid or missing file never replaces a good list: the last good list
// stays in service and the problem shows in status. It is safe for
// concurrent use: requests read an immutable snapshot through an atomic
// pointer.
type endpointsService struct {
	cfg  agentconfig.Endpoints
	opts endpoints.Options
	log  *slog.Logger

	snap atomic.Pointer[endpointsSnapshot]

	mu   sync.Mutex // serialises loads
	seen fileState  // the file as stat'ed by the last load
}

// endpointsSnapshot is one immutable state of the service.
type endpointsSnapshot struct {
	body    []byte // the rendered JSON; nil until a load succeeds
	etag    string
	domains int
	ips     int
	loaded  time.Time
	ok      []string // response header for 200 and 304
	err     error    // why the file's current content is not served
	down    []byte   // the 503 body, when body is nil
}

// fileState is what watch compares to notice that the file changed.
type fileState struct {
	exists bool
	size   int64
	mtime  time.Time
	dev    uint64
	ino    uint64
}

// newEndpointsService prepares the service; it serves 503 until load
// succeeds.
func newEndpointsService(cfg agentconfig.Endpoints, log *slog.Logger) *endpointsService {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &endpointsService{
		cfg: cfg,
		opts: endpoints.Options{
			Protocol:    cfg.Protocol,
			APIPath:     cfg.APIPath,
			SocketPath:  cfg.SocketPath,
			DefaultPort: cfg.DefaultPort,
		},
		log: log,
	}
	s.snap.Store(s.failed(nil, errors.New("not loaded yet")))
	return s
}

// load reads, validates and renders the file. On success the new list is
// served from the next request on; on failure the previous good list (if
// any) stays in service and the error is kept for status. load does not
// log: the caller reports the error it returns.
func (s *endpointsService) load() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.loadLocked()
	return err
}

// loadLocked does load's work and also returns the new snapshot.
func (s *endpointsService) loadLocked() (*endpointsSnapshot, error) {
	// Stat before reading: a change made while reading then shows as a
	// difference at the next poll and is picked up.
	s.seen = statFile(s.cfg.File)
	prev := s.snap.Load()
	next, err := s.render()
	if err != nil {
		next = s.failed(prev, err)
	}
	s.snap.Store(next)
	return next, err
}

// render builds a snapshot from the file.
func (s *endpointsService) render() (*endpointsSnapshot, error) {
	if err := s.opts.Validate(); err != nil {
		return nil, fmt.Errorf("endpoints options: %w", err)
	}
	l, err := endpoints.ParseFile(s.cfg.File)
	if err != nil {
		return nil, err
	}
	body, err := endpoints.Render(l, s.opts).JSON()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	return &endpointsSnapshot{
		body:    body,
		etag:    etag,
		domains: len(l.Domains),
		ips:     len(l.IPs),
		loaded:  time.Now(),
		ok:      []string{"ETag", etag, "Cache-Control", "public, max-age=60"},
	}, nil
}

// failed is prev, the last good list if there is one, with err recorded;
// without one it is a snapshot that answers 503.
func (s *endpointsService) failed(prev *endpointsSnapshot, err error) *endpointsSnapshot {
	if prev != nil && prev.body != nil {
		next := *prev
		next.err = err
		return &next
	}
	down, _ := json.Marshal(map[string]string{"error": "endpoints file not loaded: " + err.Error()})
	return &endpointsSnapshot{err: err, down: append(down, '\n')}
}

// watch polls the file's size, modification time and inode every interval
// (1 s when interval <= 0) and reloads it when any of them changes, until
// ctx is done. Each change is logged once: the new list, or why it was
// rejected.
func (s *endpointsService) watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = defaultEndpointsPoll
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.reloadIfChanged()
	}
}

// reloadIfChanged reloads the file if it differs from what the last load
// saw, and logs the outcome.
func (s *endpointsService) reloadIfChanged() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if statFile(s.cfg.File) == s.seen {
		return
	}
	prev := s.snap.Load()
	next, err := s.loadLocked()
	switch {
	case err != nil && next.body != nil:
		s.log.Error("endpoints file rejected; still serving the previous list",
			"file", s.cfg.File, "etag", next.etag, "error", err.Error())
	case err != nil:
		s.log.Error("endpoints file not loaded; serving 503", "file", s.cfg.File, "error", err.Error())
	case prev.body == nil || prev.etag != next.etag || prev.err != nil:
		s.log.Info("endpoints list loaded", "file", s.cfg.File,
			"domains", next.domains, "ips", next.ips, "etag", next.etag)
	}
}

// statFile returns the identity of the file at name as watch compares it;
// a file that cannot be stat'ed is the zero fileState.
func statFile(name string) fileState {
	fi, err := os.Stat(name)
	if err != nil {
		return fileState{}
	}
	st := fileState{exists: true, size: fi.Size(), mtime: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.dev, st.ino = uint64(sys.Dev), uint64(sys.Ino)
	}
	return st
}

// serve answers GET and HEAD of cfg.Path and returns nil for anything else.
// A known list is 200 application/json with a strong ETag, or 304 when
// If-None-Match already names it; before any list could be loaded the
// answer is 503 with a JSON error. For HEAD the body is still set so the
// proxy writes the right Content-Length; the proxy drops it.
func (s *endpointsService) serve(r *proxy.LocalRequest) *proxy.LocalResponse {
	if string(r.Path) != s.cfg.Path {
		return nil
	}
	if m := string(r.Method); m != "GET" && m != "HEAD" {
		return nil
	}
	snap := s.snap.Load()
	if snap.body == nil {
		return &proxy.LocalResponse{
			Status: 503,
			Header: []string{"Content-Type", "application/json", "Cache-Control", "no-store"},
			Body:   snap.down,
		}
	}
	// The proxy matches header names against a lower-case name.
	if r.Header != nil && etagMatches(r.Header("if-none-match"), snap.etag) {
		return &proxy.LocalResponse{Status: 304, Header: snap.ok}
	}
	hdr := make([]string, 0, len(snap.ok)+2)
	hdr = append(hdr, "Content-Type", "application/json")
	hdr = append(hdr, snap.ok...)
	return &proxy.LocalResponse{Status: 200, Header: hdr, Body: snap.body}
}

// etagMatches reports whether an If-None-Match value ("*" or a
// comma-separated list of entity tags) names etag. If-None-Match uses the
// weak comparison (RFC 9110 section 13.1.2), so W/"x" matches "x".
func etagMatches(inm []byte, etag string) bool {
	for tag := range strings.SplitSeq(string(inm), ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
			return true
		}
	}
	return false
}

// status describes the list being served and the file's last problem.
func (s *endpointsService) status() EndpointsStatus {
	snap := s.snap.Load()
	st := EndpointsStatus{
		File: s.cfg.File, Path: s.cfg.Path,
		Domains: snap.domains, IPs: snap.ips, Loaded: snap.loaded, ETag: snap.etag,
	}
	if snap.err != nil {
		st.Error = snap.err.Error()
	}
	return st
}
