package certs

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/edgectl/edgectl/lockfile"
)

// ErrLocked is returned by Lock when another edgectl cert run holds the
// state directory.
var ErrLocked = lockfile.ErrLocked

// Lock is an exclusive flock on DIR/lock, held for a whole issue or renew
// run so that two runs (two cron jobs, or cron and an operator) never order
// or distribute at the same time.
type Lock struct {
	l *lockfile.Lock
}

// Lock takes the lock without waiting. When it is held elsewhere the error
// matches ErrLocked and names the holder's pid when it is known.
func (s *State) Lock() (*Lock, error) {
	p := filepath.Join(s.Dir, "lock")
	l, err := lockfile.Acquire(p)
	var he *lockfile.HeldError
	if errors.As(err, &he) {
		holder := ""
		if he.PID > 0 {
			holder = fmt.Sprintf(" (pid %d)", he.PID)
		}
		return nil, fmt.Errorf("another edgectl cert run holds the lock%s on %s; wait for it to finish, it exits by itself: %w", holder, p, err)
	}
	if err != nil {
		return nil, err
	}
	return &Lock{l: l}, nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if l == nil {
		return nil
	}
	return l.l.Release()
}
