package certstore

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// DefaultInterval is how often Watch polls when given no interval.
const DefaultInterval = time.Second

const (
	// racyWindow covers the coarsest file timestamps in use (FAT: 2 s).
	racyWindow = 2 * time.Second
	// brokenRetry is how often Watch retries while a pair is broken: a
	// chown that makes a key readable changes no size, mtime or mode.
	brokenRetry = 10 * time.Second
)

// Watch polls the directory every interval (DefaultInterval when interval
// is not positive) and reloads it when a file was added, removed or changed
// in size, mtime or mode, so that new handshakes use the new certificates.
// It also reads everything once more 2 s after a change (a rewrite within
// a coarse mtime tick looks unchanged) and every 10 s while a pair is
// broken (a chown that makes a key readable changes no mtime). It returns
// when ctx is done; run it in its own goroutine. Errors reading the
// directory are logged once each; the current certificates keep serving.
func (s *Store) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := s.reloadIfChanged()
		if err != nil && err.Error() != lastErr {
			s.log.Error("watch certificate directory", "dir", s.dir, "err", err)
		}
		if err != nil {
			lastErr = err.Error()
		} else {
			lastErr = ""
		}
	}
}

// reloadIfChanged reloads when the files differ from the ones last loaded,
// when the last load was racy, or periodically while a pair is broken.
func (s *Store) reloadIfChanged() error {
	snap, err := scan(s.dir)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	switch {
	case !slices.Equal(snap.files, s.loaded):
	case !s.racyUntil.IsZero() && !now.Before(s.racyUntil):
	case s.idx.Load().broken > 0 && now.Sub(s.loadedAt) >= brokenRetry:
	default:
		return nil
	}
	return s.reloadLocked()
}

// stamp is what Watch compares to tell that a file changed.
type stamp struct {
	path  string
	size  int64
	mtime int64 // unix nanoseconds
	mode  fs.FileMode
}

// snapshot is one scan of the directory.
type snapshot struct {
	names  []string  // certificate directories, sorted
	files  []stamp   // those directories and every file in them
	newest time.Time // the latest mtime among files
}

// scan lists the certificate directories under dir and stats their files,
// following symbolic links. A missing dir is an empty snapshot.
func scan(dir string) (snapshot, error) {
	var snap snapshot
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return snap, nil
	}
	if err != nil {
		return snap, err
	}
	for _, de := range des { // sorted by name
		if strings.HasPrefix(de.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, de.Name())
		fi, err := os.Stat(p)
		if err != nil || !fi.IsDir() {
			continue
		}
		snap.names = append(snap.names, de.Name())
		snap.add(p, fi)
		files, err := os.ReadDir(p)
		if err != nil {
			continue // loading the pair reports it
		}
		for _, f := range files {
			fp := filepath.Join(p, f.Name())
			if fi, err := os.Stat(fp); err == nil {
				snap.add(fp, fi)
			}
		}
	}
	return snap, nil
}

// add records fi for path.
func (s *snapshot) add(path string, fi fs.FileInfo) {
	mt := fi.ModTime()
	s.files = append(s.files, stamp{path: path, size: fi.Size(), mtime: mt.UnixNano(), mode: fi.Mode()})
	if mt.After(s.newest) {
		s.newest = mt
	}
}
