package remote

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
)

// Local is the machine edgectl runs on.
type Local struct{}

var _ Host = Local{}

// Name returns "localhost".
func (Local) Name() string { return "localhost" }

// Run runs cmd with /bin/sh -c.
func (l Local) Run(ctx context.Context, cmd string, stdin []byte) (Result, error) {
	c := exec.CommandContext(ctx, "/bin/sh", "-c", cmd)
	out, errb := newCapped(), newCapped()
	c.Stdout, c.Stderr = out, errb
	if stdin != nil {
		c.Stdin = bytes.NewReader(stdin)
	}
	err := c.Run()
	res := Result{Stdout: out.Bytes(), Stderr: errb.Bytes()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.ExitCode = ee.ExitCode()
		return res, &ExitError{Host: l.Name(), Cmd: cmd, Result: res}
	}
	return res, err
}

// ReadFile reads path.
func (Local) ReadFile(_ context.Context, path string) ([]byte, error) {
	return os.ReadFile(path)
}

// WriteFile writes path atomically (temp name, fsync, rename).
func (Local) WriteFile(_ context.Context, path string, data []byte, perm fs.FileMode) error {
	return WriteFileAtomic(path, data, perm)
}

// Remove deletes path; a missing file is not an error.
func (Local) Remove(_ context.Context, path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// DialContext dials from this machine; network "unix" reaches a unix
// socket such as the agent's admin socket.
func (Local) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// Close does nothing.
func (Local) Close() error { return nil }

// WriteFileAtomic writes data to a temporary file next to path, fsyncs it,
// sets perm and renames it over path, then fsyncs the directory.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+TempInfix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
