package certstore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWatchSeesWhatStatCannot covers changes that leave a file's size and
// mtime as they were: a rewrite within the filesystem's timestamp
// granularity, and a broken pair fixed by something that touches no mtime
// (a chown, say). P-256 keys have a fixed size, so swapping one for another
// and restoring the mtime is invisible to a plain stat comparison.
func TestWatchSeesWhatStatCannot(t *testing.T) {
	ca := newCA(t)
	now := time.Now()
	tests := []struct {
		name     string
		mtime    time.Time // of every file
		startKey int       // 0: the certificate's own key, 1: another one
		swapTo   int       // the key written afterwards, same size and mtime
		quietAt  time.Duration
		reloadAt time.Duration
		want     string // Status error after the reload; "" when fixed
	}{
		{"a rewrite right after a load is read again once the racy window passed",
			now, 0, 1, racyWindow / 2, racyWindow + time.Second, "private key does not match public key"},
		{"a broken pair is retried",
			now.Add(-time.Hour), 1, 0, brokenRetry / 2, brokenRetry + time.Second, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			site := ca.issue(t, 0xc0, valid, "a.example.com")
			keys := [][]byte{site.key, ca.issue(t, 0xc1, valid, "other.test").key}
			keyPath := filepath.Join(dir, "site", KeyFile)
			writePair(t, dir, "site", pair{chain: site.chain, key: keys[tt.startKey]})
			touchAll(t, dir, tt.mtime)
			s := open(t, dir)
			loaded := s.Status()[0].Error

			writeFile(t, keyPath, keys[tt.swapTo], 0o600)
			touchAll(t, dir, tt.mtime)
			for _, step := range []struct {
				at   time.Duration
				want string
			}{{tt.quietAt, loaded}, {tt.reloadAt, tt.want}} {
				s.now = func() time.Time { return now.Add(step.at) }
				if err := s.reloadIfChanged(); err != nil {
					t.Fatal(err)
				}
				got := s.Status()[0].Error
				if step.want == "" && got != "" || !strings.Contains(got, step.want) {
					t.Errorf("after %v: Status error %q, want %q", step.at, got, step.want)
				}
			}
		})
	}
}

func TestWatchReloadsOnModeChange(t *testing.T) {
	ca := newCA(t)
	dir := t.TempDir()
	site := ca.issue(t, 0xd0, valid, "a.example.com")
	writePair(t, dir, "site", site)
	touchAll(t, dir, time.Now().Add(-time.Hour))
	s := open(t, dir)
	before := s.idx.Load()
	if err := s.reloadIfChanged(); err != nil || s.idx.Load() != before {
		t.Fatalf("reloaded with nothing changed (err %v)", err)
	}
	if err := os.Chmod(filepath.Join(dir, "site", KeyFile), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := s.reloadIfChanged(); err != nil || s.idx.Load() == before {
		t.Fatalf("did not reload after a chmod (err %v)", err)
	}
}

// touchAll sets the mtime of dir's certificate directories and their files.
func touchAll(t *testing.T, dir string, mtime time.Time) {
	t.Helper()
	err := filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil || path == dir {
			return err
		}
		return os.Chtimes(path, mtime, mtime)
	})
	if err != nil {
		t.Fatal(err)
	}
}
