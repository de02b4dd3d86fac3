package remotetest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"path"
	"sync"
	"syscall"
	"time"

	"github.com/edgectl/edgectl/remote"
)

// Handler answers a program the shell does not know (systemctl, the
// edgectl binary, journalctl …). args[0] is the program as written.
type Handler func(h *Fake, args []string, stdin []byte) (stdout, stderr string, code int)

// Fake is a recording remote.Host over a model file system; see the
// package comment. The zero value is not usable: call NewFake.
type Fake struct {
	// HostName is what Name returns.
	HostName string
	// Owner is the owner of files WriteFile creates ("root:root").
	Owner string
	// Handlers answer programs by name (args[0], or its base name).
	// Without one a program succeeds silently.
	Handlers map[string]Handler
	// Fallback answers a program no handler knows (nil: it succeeds
	// silently), e.g. a binary the test uploaded.
	Fallback Handler
	// Fail, when set, is asked before every operation: op is a shell
	// built-in or program name, or "write", "read", "remove", "dial";
	// args are its words (the path for file operations). A non-nil error
	// makes that operation fail: a command exits 1 printing it, a file
	// operation returns it (wrap fs or syscall errors, e.g. syscall.ENOSPC,
	// for the file's own failures). Return Broken(name) to act as a
	// connection that died.
	Fail func(op string, args []string) error
	// Dial serves DialContext (nil: every dial is refused).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now is the host's clock (nil: time.Now).
	Now func() time.Time

	mu     sync.Mutex
	files  map[string]*Inode
	dirs   map[string]bool
	free   map[string]int64
	log    []string
	closed bool
}

var _ remote.Host = (*Fake)(nil)

// NewFake returns an empty host called name with / and root-owned files.
func NewFake(name string) *Fake {
	return &Fake{HostName: name, Owner: "root:root", Handlers: map[string]Handler{},
		files: map[string]*Inode{}, dirs: map[string]bool{}, free: map[string]int64{}}
}

// Broken is an error that remote.Broken reports as a failed connection.
func Broken(host string) error {
	return &remote.TransportError{Host: host, Err: fmt.Errorf("%s: connection lost (injected)", host)}
}

func (h *Fake) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// Log returns every operation so far: shell statements as their words
// joined by spaces, and "write P", "read P", "remove P", "dial N A".
func (h *Fake) Log() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.log...)
}

// ResetLog forgets the operations logged so far.
func (h *Fake) ResetLog() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.log = nil
}

func (h *Fake) record(s string) { h.log = append(h.log, s) }

func (h *Fake) fail(op string, args ...string) error {
	if h.Fail == nil {
		return nil
	}
	return h.Fail(op, args)
}

// Name returns HostName.
func (h *Fake) Name() string { return h.HostName }

// Run runs cmd through the model shell.
func (h *Fake) Run(ctx context.Context, cmd string, stdin []byte) (remote.Result, error) {
	if err := ctx.Err(); err != nil {
		return remote.Result{}, fmt.Errorf("%s: %w", h.HostName, err)
	}
	sh := &shell{h: h, stdin: stdin}
	code, err := sh.run(cmd)
	res := remote.Result{Stdout: sh.out.Bytes(), Stderr: sh.errb.Bytes(), ExitCode: code}
	if err != nil {
		return res, err
	}
	if code != 0 {
		return res, &remote.ExitError{Host: h.HostName, Cmd: cmd, Result: res}
	}
	return res, nil
}

// ReadFile returns the content at p.
func (h *Fake) ReadFile(ctx context.Context, p string) ([]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.record("read " + p)
	if err := h.fail("read", p); err != nil {
		return nil, err
	}
	n := h.files[path.Clean(p)]
	if n == nil {
		return nil, fmt.Errorf("%s: read %s: %w", h.HostName, p, fs.ErrNotExist)
	}
	return append([]byte(nil), n.Data...), nil
}

// WriteFile replaces p with a new inode (mode perm, owner Owner), as an
// atomic rename would: a failure leaves p as it was. The directory must
// exist, and its free space must hold the data.
func (h *Fake) WriteFile(ctx context.Context, p string, data []byte, perm fs.FileMode) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.record("write " + p)
	if err := h.fail("write", p); err != nil {
		return err
	}
	p = path.Clean(p)
	if !h.isDir(path.Dir(p)) {
		return fmt.Errorf("%s: write %s: %w", h.HostName, p, fs.ErrNotExist)
	}
	if !h.take(path.Dir(p), int64(len(data))) {
		return fmt.Errorf("%s: write %s: %w", h.HostName, p, syscall.ENOSPC)
	}
	old := h.files[p]
	h.files[p] = &Inode{Data: append([]byte(nil), data...), Mode: perm, Owner: h.Owner, MTime: h.now()}
	if old != nil {
		h.release(p, old)
	}
	return nil
}

// Remove deletes p; a missing file is not an error.
func (h *Fake) Remove(ctx context.Context, p string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.record("remove " + p)
	if err := h.fail("remove", p); err != nil {
		return err
	}
	p = path.Clean(p)
	if n := h.files[p]; n != nil {
		delete(h.files, p)
		h.release(p, n)
	}
	return nil
}

// DialContext uses Dial, or refuses.
func (h *Fake) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	h.mu.Lock()
	h.record("dial " + network + " " + addr)
	err := h.fail("dial", network, addr)
	dial := h.Dial
	h.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if dial == nil {
		return nil, fmt.Errorf("dial %s %s from %s: %w", network, addr, h.HostName, syscall.ECONNREFUSED)
	}
	return dial(ctx, network, addr)
}

// Close marks the host closed (Closed reports it).
func (h *Fake) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	return nil
}

// Closed reports whether Close was called.
func (h *Fake) Closed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// transport reports whether an injected error is a broken connection
// (a *remote.TransportError, as Broken returns); any other error is the
// command's own failure.
func transport(err error) bool {
	var te *remote.TransportError
	return errors.As(err, &te)
}
