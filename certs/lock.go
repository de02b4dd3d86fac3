package certs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrLocked is returned by Lock when another edgectl cert run holds the
// state directory.
var ErrLocked = errors.New("another edgectl cert run holds the lock")

// Lock is an exclusive flock on DIR/lock, held for a whole issue or renew
// run so that two runs (two cron jobs, or cron and an operator) never order
// or distribute at the same time.
type Lock struct {
	f *os.File
}

// Lock takes the lock without waiting. When it is held elsewhere the error
// matches ErrLocked and names the holder's pid when it is known.
func (s *State) Lock() (*Lock, error) {
	p := filepath.Join(s.Dir, "lock")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			holder := ""
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b[:n]))); perr == nil {
				holder = fmt.Sprintf(" (pid %d)", pid)
			}
			return nil, fmt.Errorf("%w%s on %s; wait for it to finish, it exits by itself", ErrLocked, holder, p)
		}
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &Lock{f: f}, nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing drops the flock
	l.f = nil
	return err
}
