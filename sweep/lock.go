package sweep

import (
	"errors"
	"fmt"

	"github.com/edgectl/edgectl/lockfile"
)

// ErrLocked is matched (errors.Is) by the error of AcquireLock when another
// sweep holds the lock.
var ErrLocked = lockfile.ErrLocked

// LockedError says who holds the lock.
type LockedError = lockfile.HeldError

// Lock is held by a running sweep; see package lockfile.
type Lock = lockfile.Lock

// AcquireLock takes the sweep lock at path without waiting. When another
// sweep holds it, the error wraps a *LockedError and says what happens.
func AcquireLock(path string) (*Lock, error) {
	l, err := lockfile.Acquire(path)
	var he *lockfile.HeldError
	if errors.As(err, &he) {
		pid := "pid unknown"
		if he.PID > 0 {
			pid = fmt.Sprintf("pid %d", he.PID)
		}
		return nil, fmt.Errorf("another sweep is running (%s, lock %s); a sweep that outlasts its cron interval skips the next run: %w", pid, he.Path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	return l, nil
}
