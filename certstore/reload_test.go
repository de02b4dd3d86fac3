package certstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pickup makes a store see what changed on disk: by Reload, or by Watch.
type pickup struct {
	name  string
	start func(t *testing.T, s *Store) // once, after Open
	after func(t *testing.T, s *Store) // after every change
}

var pickups = []pickup{
	{"Reload", func(*testing.T, *Store) {}, func(t *testing.T, s *Store) {
		t.Helper()
		if err := s.Reload(); err != nil {
			t.Fatalf("Reload: %v", err)
		}
	}},
	{"Watch", func(t *testing.T, s *Store) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { s.Watch(ctx, 50*time.Millisecond); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
	}, func(*testing.T, *Store) {}},
}

// within is how soon a change must serve: Reload is immediate, Watch polls
// every 50 ms. It is below racyWindow, so the polling itself must notice.
const within = 1500 * time.Millisecond

func TestEmptyDirThenFirstCertificate(t *testing.T) {
	for _, p := range pickups {
		t.Run(p.name, func(t *testing.T) {
			ca := newCA(t)
			dir := filepath.Join(t.TempDir(), "certs") // not created yet
			s := open(t, dir)
			p.start(t, s)
			srv := serve(t, s)

			if _, err := srv.dial(t, ca, "a.example.com"); err == nil {
				t.Fatal("handshake succeeded with no certificate")
			}
			serverErr := <-srv.errs
			want := "no certificate in " + dir + " yet; run edgectl cert issue"
			if serverErr == nil || serverErr.Error() != want || !errors.Is(serverErr, ErrNoCertificate) {
				t.Fatalf("server handshake error %v, want %q", serverErr, want)
			}

			site := ca.issue(t, 0x40, valid, "a.example.com")
			writePair(t, dir, "site", site)
			p.after(t, s)
			srv.eventually(t, ca, "a.example.com", site.serial, within)
		})
	}
}

func TestReplaceCertificate(t *testing.T) {
	for _, p := range pickups {
		t.Run(p.name, func(t *testing.T) {
			ca := newCA(t)
			dir := t.TempDir()
			old := ca.issue(t, 0x50, valid, "a.example.com")
			writePair(t, dir, "site", old)
			s := open(t, dir)
			p.start(t, s)
			srv := serve(t, s)
			srv.eventually(t, ca, "a.example.com", old.serial, 0)

			renewed := ca.issue(t, 0x51, valid, "a.example.com")
			writePair(t, dir, "site", renewed) // in place, chain first
			p.after(t, s)
			srv.eventually(t, ca, "a.example.com", renewed.serial, within)
			if st := s.Status(); len(st) != 1 || st[0].Serial != renewed.serial || st[0].Error != "" {
				t.Errorf("Status after renewal = %+v, want serial %s and no error", st, renewed.serial)
			}
		})
	}
}

func TestRemoveCertificate(t *testing.T) {
	for _, p := range pickups {
		t.Run(p.name, func(t *testing.T) {
			ca := newCA(t)
			dir := t.TempDir()
			first := ca.issue(t, 0x60, valid, "first.test")
			gone := ca.issue(t, 0x61, valid, "a.example.com")
			writePair(t, dir, "a-first", first)
			writePair(t, dir, "b-gone", gone)
			s := open(t, dir)
			p.start(t, s)
			srv := serve(t, s)
			srv.eventually(t, ca, "a.example.com", gone.serial, 0)

			if err := os.RemoveAll(filepath.Join(dir, "b-gone")); err != nil {
				t.Fatal(err)
			}
			p.after(t, s)
			// The name falls back to the default certificate.
			srv.eventually(t, ca, "a.example.com", first.serial, within)
			if st := s.Status(); len(st) != 1 || st[0].Name != "a-first" {
				t.Errorf("Status after removal = %+v, want only a-first", st)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	file := filepath.Join(t.TempDir(), "certs")
	writeFile(t, file, []byte("not a directory"), 0o644)
	hidden := t.TempDir()
	writeFile(t, filepath.Join(hidden, ".staging", ChainFile), []byte("partial"), 0o644)
	writeFile(t, filepath.Join(hidden, "README"), []byte("stray file"), 0o644)

	tests := []struct {
		name    string
		dir     string
		wantErr string
	}{
		{"missing directory", filepath.Join(t.TempDir(), "missing"), ""},
		{"empty directory", t.TempDir(), ""},
		{"dot directories and stray files are ignored", hidden, ""},
		{"a file instead of a directory", file, "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(tt.dir, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Open error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if st := s.Status(); len(st) != 0 {
				t.Errorf("Status = %+v, want none", st)
			}
			if _, err := s.GetCertificate(nil); !errors.Is(err, ErrNoCertificate) {
				t.Errorf("GetCertificate error %v, want ErrNoCertificate", err)
			}
		})
	}
}
