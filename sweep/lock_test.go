package sweep

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestLockExcludesASecondSweep(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dir", "sweep.json.lock")
	l, err := AcquireLock(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = AcquireLock(path)
	var le *LockedError
	if !errors.Is(err, ErrLocked) || !errors.As(err, &le) || le.PID != os.Getpid() ||
		!strings.Contains(err.Error(), fmt.Sprintf("another sweep is running (pid %d, lock %s)", os.Getpid(), path)) {
		t.Fatalf("second lock: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := AcquireLock(path)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	l2.Release()
}

// A process holding the lock that dies leaves no stale lock.
func TestLockGoneWithItsProcess(t *testing.T) {
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("needs flock(1) from util-linux")
	}
	path := filepath.Join(t.TempDir(), "sweep.json.lock")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// flock(1) holds the lock; -o keeps its fd out of sleep, so killing the
	// process group releases it.
	cmd := exec.Command("flock", "-o", path, "sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, err := AcquireLock(path)
		if errors.Is(err, ErrLocked) {
			break
		}
		if err == nil {
			l.Release()
		}
		if time.Now().After(deadline) {
			t.Fatal("flock(1) never held the lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
	// flock(1)'s forked child shares the locked file description until it
	// closes it (or dies); the group's SIGKILL lands on it asynchronously,
	// after Wait may have returned for flock itself. Give it a moment.
	var l *Lock
	var err error
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if l, err = AcquireLock(path); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("lock of a dead process: %v", err)
	}
	l.Release()
}
