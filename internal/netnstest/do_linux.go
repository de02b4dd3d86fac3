//go:build linux

package netnstest

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs fn on an OS thread that has joined the namespace, so fn can listen, dial
// and read /proc/sys/net as a process inside would. It returns fn's error, and a
// panic in fn is raised again in the caller.
//
// What fn creates keeps the namespace it was created in: a socket opened in fn
// (a net.Listener, a net.Conn) stays in the namespace and can be used from any
// goroutine after Do returns. Only the calling thread changes namespace, so:
//
//   - goroutines started by fn run in the test process's own namespace;
//   - dial IP literals, not names: the resolver and Happy Eyeballs fallbacks run on
//     other goroutines;
//   - do not call t.Fatal, t.FailNow or t.Skip in fn, which runs on another
//     goroutine than the test.
//
// fn runs on a new goroutine locked to its thread. Afterwards the thread goes back
// to the original namespace; if that fails the thread is never unlocked, so the Go
// runtime ends it instead of reusing it, and Do reports the error.
func (ns *NS) Do(fn func() error) error {
	type result struct {
		err      error
		panicked bool
		value    any
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("open current network namespace: %w", err)}
			return
		}
		defer orig.Close()
		if err := setns(netnsPath(ns.name)); err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("enter namespace %s: %w", ns.name, err)}
			return
		}

		var res result
		returned := false
		defer func() {
			if !returned {
				if v := recover(); v != nil {
					res.panicked, res.value = true, v
				} else {
					res.err = errors.New("fn passed to Do called runtime.Goexit (t.Fatal, t.FailNow or t.Skip only work on the test's goroutine)")
				}
			}
			if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
				// Stay locked: the thread ends with this goroutine.
				res.err = errors.Join(res.err, fmt.Errorf("return from namespace %s: %w (thread discarded)", ns.name, err))
			} else {
				runtime.UnlockOSThread()
			}
			done <- res
		}()
		res.err = fn()
		returned = true
	}()
	res := <-done
	if res.panicked {
		panic(res.value)
	}
	return res.err
}

// setns moves the calling thread into the network namespace mounted at path.
func setns(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns %s: %w", path, err)
	}
	return nil
}

// pidAlive reports whether a process with this pid exists.
func pidAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
