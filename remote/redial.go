package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Redialer is a Host whose connection is replaced when it breaks: an
// operation that fails because the transport is gone (the connection
// closed, the keepalive got no answer) drops the connection, and the next
// operation dials a new one. Errors of the command or the file itself (an
// exit status, a missing file, a port the host refuses) keep it.
//
// Deploy uses it for the health gate and the rollback, which must judge
// and repair the host, not give up on a stalled TCP connection: after a
// partition the old connection may sit in TCP back-off for a minute while
// a new one connects at once.
type Redialer struct {
	name string
	dial func(ctx context.Context) (Host, error)

	mu      sync.Mutex
	cur     Host
	redials int
	closed  bool
}

var _ Host = (*Redialer)(nil)

// NewRedialer wraps first (may be nil: dial on first use); dial opens a
// new connection to the same host.
func NewRedialer(name string, first Host, dial func(ctx context.Context) (Host, error)) *Redialer {
	return &Redialer{name: name, cur: first, dial: dial}
}

// Redials is how many times a new connection was opened after the first.
func (r *Redialer) Redials() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.redials
}

// Current is the connection in use (nil when it was dropped and not yet
// replaced), for callers that need the concrete type.
func (r *Redialer) Current() Host {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}

func (r *Redialer) get(ctx context.Context) (Host, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, fmt.Errorf("%s: connection closed", r.name)
	}
	if h := r.cur; h != nil {
		r.mu.Unlock()
		return h, nil
	}
	r.mu.Unlock()
	h, err := r.dial(ctx)
	if err != nil {
		return nil, &TransportError{Host: r.name, Err: err}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != nil || r.closed { // another caller won the race
		h.Close()
		if r.closed {
			return nil, fmt.Errorf("%s: connection closed", r.name)
		}
		return r.cur, nil
	}
	r.cur = h
	r.redials++
	return h, nil
}

// drop forgets h if it is still the current connection.
func (r *Redialer) drop(h Host) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == h {
		r.cur = nil
		h.Close()
	}
}

// after drops h when err says its transport broke.
func (r *Redialer) after(h Host, err error) error {
	if Broken(err) {
		r.drop(h)
		return &TransportError{Host: r.name, Err: err}
	}
	return err
}

// Check makes sure there is a live connection: the current one answers a
// keepalive within timeout, or it is dropped and a new one dialled. It
// returns a *TransportError when no connection can be had.
func (r *Redialer) Check(ctx context.Context, timeout time.Duration) error {
	h, err := r.get(ctx)
	if err != nil {
		return err
	}
	p, ok := h.(interface {
		Ping(context.Context, time.Duration) error
	})
	if !ok {
		return nil
	}
	if err := p.Ping(ctx, timeout); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.drop(h)
		_, err = r.get(ctx)
		return err
	}
	return nil
}

// Name returns the host's name.
func (r *Redialer) Name() string { return r.name }

// Run runs cmd on the current connection.
func (r *Redialer) Run(ctx context.Context, cmd string, stdin []byte) (Result, error) {
	h, err := r.get(ctx)
	if err != nil {
		return Result{}, err
	}
	res, err := h.Run(ctx, cmd, stdin)
	return res, r.after(h, err)
}

// ReadFile reads path on the current connection.
func (r *Redialer) ReadFile(ctx context.Context, path string) ([]byte, error) {
	h, err := r.get(ctx)
	if err != nil {
		return nil, err
	}
	data, err := h.ReadFile(ctx, path)
	return data, r.after(h, err)
}

// WriteFile writes path on the current connection.
func (r *Redialer) WriteFile(ctx context.Context, path string, data []byte, perm fs.FileMode) error {
	h, err := r.get(ctx)
	if err != nil {
		return err
	}
	return r.after(h, h.WriteFile(ctx, path, data, perm))
}

// Remove removes path on the current connection.
func (r *Redialer) Remove(ctx context.Context, path string) error {
	h, err := r.get(ctx)
	if err != nil {
		return err
	}
	return r.after(h, h.Remove(ctx, path))
}

// DialContext dials from the host over the current connection.
func (r *Redialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	h, err := r.get(ctx)
	if err != nil {
		return nil, err
	}
	c, err := h.DialContext(ctx, network, addr)
	return c, r.after(h, err)
}

// Close closes the current connection; the Redialer dials no more.
func (r *Redialer) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.cur != nil {
		err := r.cur.Close()
		r.cur = nil
		return err
	}
	return nil
}

// TransportError says the connection to the host failed, not the
// operation on it: the host may be fine.
type TransportError struct {
	Host string
	Err  error
}

func (e *TransportError) Error() string { return e.Err.Error() }
func (e *TransportError) Unwrap() error { return e.Err }

// Broken reports whether err means the connection itself failed (closed,
// reset, stalled) rather than the command or file operation: SSH and
// Redialer return a *TransportError then. An exit status, a missing file,
// a refused channel or the caller's own deadline are not broken
// transports, nor is any other error.
func Broken(err error) bool {
	if err == nil {
		return false
	}
	var te *TransportError
	if errors.As(err, &te) {
		return true
	}
	var me *ssh.ExitMissingError
	return errors.As(err, &me) || errors.Is(err, ErrStalled) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}
