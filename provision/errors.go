package provision

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrStopped is returned when the run was asked to stop (a signal) at a
// safe point before the host passed its gate; the host is rolled back.
var ErrStopped = errors.New("stopped before the change was complete")

// ErrRunTimeout is returned when the run's own time limit ended it.
var ErrRunTimeout = errors.New("the run's time limit was reached")

// StepError says which step of applying a plan failed.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return e.Step + ": " + e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

// NoSpaceError is returned before anything is written when a directory
// cannot hold the new files next to the old ones.
type NoSpaceError struct {
	Host, Dir  string
	Need, Free int64
}

func (e *NoSpaceError) Error() string {
	return fmt.Sprintf("no space on %s:%s, need %s (%s free); free some space and run again", e.Host, e.Dir, mb(e.Need), mb(e.Free))
}

func mb(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d KB", (n+1023)>>10)
	}
	return fmt.Sprintf("%d MB", (n+1<<20-1)>>20)
}

// BackupError is returned when a backup does not hold what it should:
// nothing is replaced (or restored) from it.
type BackupError struct {
	Path, Backup string
	Want, Got    string
}

func (e *BackupError) Error() string {
	got := "it is missing"
	if e.Got != "" {
		got = "it has sha256 " + short(e.Got)
	}
	return fmt.Sprintf("the backup %s of %s should have sha256 %s but %s; the file changed under the deploy (another tool?), so nothing is replaced from it", e.Backup, e.Path, short(e.Want), got)
}

// GateError says why a host did not pass its health gate.
type GateError struct {
	// Timeout is the gate's time (after which Failures were still failing),
	// 0 when it failed fast.
	Timeout time.Duration
	// Failures are the checks that failed in the last round.
	Failures []string
	// Fatal is why the gate gave up before its time: a unit failed or is
	// restart-looping.
	Fatal string
	// Unreachable is set when the host could not be reached over SSH for
	// longer than the gate allows: the host was not judged at all.
	Unreachable string
	// Logs are the last lines of the journal of each unit involved.
	Logs map[string]string
}

func (e *GateError) Error() string {
	switch {
	case e.Fatal != "":
		return e.Fatal
	case e.Unreachable != "":
		return "could not judge the host: " + e.Unreachable
	}
	return fmt.Sprintf("not healthy within %s: %s", e.Timeout, strings.Join(e.Failures, "; "))
}

// LockedError is returned by Deploy when another run holds the lock of
// some hosts: nothing was changed anywhere.
type LockedError struct {
	Errs []error
}

func (e *LockedError) Error() string {
	msgs := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		msgs[i] = err.Error()
	}
	return "another run holds the lock of " + plural(len(e.Errs), "host") + "; nothing was changed on any host:\n  " + strings.Join(msgs, "\n  ")
}

func (e *LockedError) Unwrap() []error { return e.Errs }

// SSHSetupError is returned by Deploy when a host key cannot be trusted or
// edgectl cannot log in to some hosts (a configuration problem, not a host
// that is down): nothing was changed anywhere.
type SSHSetupError struct {
	Errs []error
}

func (e *SSHSetupError) Error() string {
	msgs := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		msgs[i] = err.Error()
	}
	return "SSH is not set up for " + plural(len(e.Errs), "host") + "; nothing was changed on any host:\n  " + strings.Join(msgs, "\n  ")
}

func (e *SSHSetupError) Unwrap() []error { return e.Errs }

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
