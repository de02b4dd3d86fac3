package lockfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestAcquireRelease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "lock")
	l, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	// A second open file description conflicts even in the same process.
	_, err = Acquire(path)
	var he *HeldError
	if !errors.Is(err, ErrLocked) || !errors.As(err, &he) || he.PID != os.Getpid() {
		t.Fatalf("second Acquire = %v, want a HeldError naming pid %d", err, os.Getpid())
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("lock file mode %v, want 0600", st.Mode().Perm())
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(path)
	if err != nil {
		t.Fatalf("after Release: %v", err)
	}
	l2.Release()
	var nilLock *Lock
	if nilLock.Release() != nil {
		t.Fatal("Release of nil must be a no-op")
	}
}
