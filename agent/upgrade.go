package agent

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Zero-downtime binary upgrade, tableflip-style but with nothing held open
// between upgrades: on Upgrade the agent duplicates the descriptors of the
// sockets it listens on right now, starts the binary at its own path with
// them (EDGECTL_LISTEN_FDS names them, in order from fd 3) and a pipe the
// new process writes one byte to once it serves. Then this process drains.
// A listener removed by a reload is closed for good, because no copy of it
// is kept anywhere.

const (
	envListenFDs = "EDGECTL_LISTEN_FDS" // "tcp [::]:80\nunix /run/edgectl/agent.sock"
	envReadyFD   = "EDGECTL_READY_FD"
	// UpgradeTimeout bounds how long the new process may take to be ready.
	UpgradeTimeout = 30 * time.Second
)

// inherited holds the sockets handed over by a previous process.
type inherited struct {
	files map[string]*os.File // "network addr" → file
	ready *os.File
}

// loadInherited reads the descriptors passed by the previous process, if
// any, and clears the variables so they do not leak into later children.
func loadInherited() *inherited {
	in := &inherited{files: map[string]*os.File{}}
	names := os.Getenv(envListenFDs)
	readyFD := os.Getenv(envReadyFD)
	_ = os.Unsetenv(envListenFDs)
	_ = os.Unsetenv(envReadyFD)
	if names != "" {
		for i, key := range strings.Split(names, "\n") {
			in.files[key] = os.NewFile(uintptr(3+i), key)
		}
	}
	if fd, err := strconv.Atoi(readyFD); err == nil {
		in.ready = os.NewFile(uintptr(fd), "ready")
	}
	return in
}

// hasParent reports whether this process was started by an upgrade.
func (in *inherited) hasParent() bool { return in != nil && in.ready != nil }

// listen returns the inherited listener for network and addr, or creates
// one.
func (in *inherited) listen(network, addr string, create func() (net.Listener, error)) (net.Listener, error) {
	if in != nil {
		key := network + " " + addr
		if f := in.files[key]; f != nil {
			delete(in.files, key)
			ln, err := net.FileListener(f)
			_ = f.Close()
			if err == nil {
				return ln, nil
			}
		}
	}
	return create()
}

// signalReady tells the previous process to drain, and closes what was
// inherited but not used (listeners the new configuration dropped).
func (in *inherited) signalReady() error {
	if in == nil {
		return nil
	}
	for _, f := range in.files {
		_ = f.Close()
	}
	in.files = nil
	if in.ready == nil {
		return nil
	}
	_, err := in.ready.Write([]byte{1})
	_ = in.ready.Close()
	in.ready = nil
	return err
}

// socketFile duplicates a listener's descriptor.
func socketFile(ln net.Listener) (*os.File, error) {
	f, ok := ln.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, fmt.Errorf("%T cannot be handed over", ln)
	}
	return f.File()
}

// startSuccessor starts the new process with the listeners and waits until
// it is ready. keys and lns are parallel.
func startSuccessor(keys []string, lns []net.Listener) error {
	var files []*os.File
	defer func() {
		for _, f := range files {
			_ = f.Close()
		}
	}()
	for i, ln := range lns {
		f, err := socketFile(ln)
		if err != nil {
			return fmt.Errorf("hand over %s: %w", keys[i], err)
		}
		files = append(files, f)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	bin, err := filepath.Abs(os.Args[0])
	if err != nil {
		_ = w.Close()
		return err
	}
	cmd := exec.Command(bin, os.Args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = append(append([]*os.File{}, files...), w)
	cmd.Env = append(os.Environ(),
		envListenFDs+"="+strings.Join(keys, "\n"),
		envReadyFD+"="+strconv.Itoa(3+len(files)))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: false}
	if err := cmd.Start(); err != nil {
		_ = w.Close()
		return fmt.Errorf("start %s: %w", bin, err)
	}
	_ = w.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ready := make(chan error, 1)
	go func() {
		var b [1]byte
		_, err := r.Read(b[:])
		ready <- err
	}()
	select {
	case err := <-ready:
		if err == nil {
			return nil
		}
		select {
		case werr := <-exited:
			return fmt.Errorf("new process exited before it was ready: %v", werr)
		case <-time.After(2 * time.Second):
			_ = cmd.Process.Kill()
			return fmt.Errorf("new process closed its ready pipe: %w", err)
		}
	case err := <-exited:
		return fmt.Errorf("new process exited before it was ready: %v", err)
	case <-time.After(UpgradeTimeout):
		_ = cmd.Process.Kill()
		return errors.New("new process was not ready within " + UpgradeTimeout.String())
	}
}
