package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// powerOff kills every process of h (a hard power-off), waits for its
// systemd-nspawn to exit and unmounts its overlay. The overlay's upper
// directory, the host's disk, stays.
func (b *Bed) powerOff(h *Host) error {
	err := killNetns(h.st.Net.NS)
	if h.st.PID != 0 && b.running(h) {
		if h.proc == nil {
			_ = syscall.Kill(h.st.PID, syscall.SIGKILL)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for b.running(h) {
		if time.Now().After(deadline) {
			return errors.Join(err, fmt.Errorf("host %s: systemd-nspawn %d still running 15 s after its container was killed", h.Name, h.st.PID))
		}
		if h.st.PID != 0 && h.proc != nil && time.Until(deadline) < 10*time.Second {
			_ = h.proc.cmd.Process.Kill()
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.proc, h.st.PID = nil, 0
	return errors.Join(err, unmountBelow(b.rootDir(h)))
}

// killNetns SIGKILLs every process in network namespace ns, except this one,
// until none is left (a process may fork before the signal lands).
func killNetns(ns string) error {
	if _, err := os.Stat("/run/netns/" + ns); err != nil {
		return nil
	}
	for round := 0; ; round++ {
		out, err := run("ip", "netns", "pids", ns)
		if err != nil {
			return err
		}
		var pids []int
		for _, f := range strings.Fields(out) {
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				pids = append(pids, pid)
			}
		}
		if len(pids) == 0 {
			return nil
		}
		if round == 100 {
			return fmt.Errorf("processes %v in namespace %s survive SIGKILL", pids, ns)
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop powers the host off hard, like pulling the plug: every process in it
// is killed. Its disk (the overlay's upper directory) is kept for Start.
func (b *Bed) Stop(name string) error {
	h, err := b.host(name)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("testbed: Stop after Close")
	}
	err = b.powerOff(h)
	return errors.Join(err, b.save())
}

// Start boots a host that Stop powered off and waits, like [Start], until
// it is ready. Starting a running host is an error.
func (b *Bed) Start(ctx context.Context, name string) error {
	h, err := b.host(name)
	if err != nil {
		return err
	}
	b.mu.Lock()
	closed, on := b.closed, h.st.PID != 0 && b.running(h)
	b.mu.Unlock()
	if closed {
		return errors.New("testbed: Start after Close")
	}
	if on {
		return fmt.Errorf("testbed: host %s is running; Stop it first", name)
	}
	return b.bootAll(ctx, []*Host{h}, 60*time.Second)
}

// Close powers off every host and removes the network (namespaces, veths,
// bridge) and the run directory. It can be called more than once.
func (b *Bed) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	errs := make([]error, len(b.Hosts))
	var wg sync.WaitGroup
	for i, h := range b.Hosts {
		wg.Go(func() { errs[i] = errors.Join(b.powerOff(h), deleteNetns(h.st.Net.NS), deleteLink(h.st.Net.Veth)) })
	}
	wg.Wait()
	errs = append(errs, deleteLink(b.st.Bridge))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("testbed: close %s (run testbedctl cleanup to retry): %w", b.Dir, err)
	}
	if err := removeTree(b.Dir); err != nil {
		return fmt.Errorf("testbed: remove %s: %w", b.Dir, err)
	}
	return nil
}
