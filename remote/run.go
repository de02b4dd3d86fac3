package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/ssh"
)

// keepAlive pings the server every interval and closes the connection when
// a ping gets no answer within an interval.
func (s *SSH) keepAlive(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-t.C:
		}
		errc := make(chan error, 1)
		go func() {
			_, _, err := s.client.SendRequest("keepalive@openssh.com", true, nil)
			errc <- err
		}()
		select {
		case <-s.closed:
			return
		case err := <-errc:
			if err != nil {
				s.Close()
				return
			}
		case <-time.After(interval):
			s.Close()
			return
		}
	}
}

// Name returns the host's name.
func (s *SSH) Name() string { return s.name }

// Client returns the underlying SSH client, for what Host does not cover.
func (s *SSH) Client() *ssh.Client { return s.client }

// Run runs cmd in a new session; the remote user's login shell runs the
// string, as sh -c would. Cancelling ctx kills the command and closes the
// session, also while the session is still being opened.
func (s *SSH) Run(ctx context.Context, cmd string, stdin []byte) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("%s: %q: %w", s.name, shortCmd(cmd), err)
	}
	type outcome struct {
		res Result
		err error
	}
	done := make(chan outcome, 1)
	sessc := make(chan *ssh.Session, 1)
	go func() {
		sess, err := s.client.NewSession()
		if err != nil {
			done <- outcome{err: &TransportError{Host: s.name, Err: fmt.Errorf("%s: open session for %q: %w", s.name, shortCmd(cmd), err)}}
			return
		}
		sessc <- sess
		defer sess.Close()
		out, errb := newCapped(), newCapped()
		sess.Stdout, sess.Stderr = out, errb
		if stdin != nil {
			sess.Stdin = bytes.NewReader(stdin)
		}
		err = sess.Run(cmd)
		done <- outcome{Result{Stdout: out.Bytes(), Stderr: errb.Bytes()}, err}
	}()
	var o outcome
	select {
	case o = <-done:
	case <-ctx.Done():
		go func() { // kill the command once its session exists
			select {
			case sess := <-sessc:
				_ = sess.Signal(ssh.SIGKILL)
				sess.Close()
			case <-done:
			}
		}()
		return Result{}, fmt.Errorf("%s: %q: %w", s.name, shortCmd(cmd), ctx.Err())
	}
	res, err := o.res, o.err
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		res.ExitCode = ee.ExitStatus()
		return res, &ExitError{Host: s.name, Cmd: cmd, Result: res}
	}
	if err != nil {
		// Anything but an exit status means the connection failed under
		// the command (a missing exit status, EOF, a closed session).
		why := ""
		select {
		case <-s.closed:
			why = " (connection closed: the keepalive got no answer, or the host went away)"
		default:
		}
		var te *TransportError
		if errors.As(err, &te) {
			return res, err
		}
		return res, &TransportError{Host: s.name, Err: fmt.Errorf("%s: run %q: %w%s", s.name, shortCmd(cmd), err, why)}
	}
	return res, nil
}

// Ping asks the server for a keepalive answer within timeout: nil when the
// connection carries traffic, an error when it is closed or stalled (a
// partition, a host that froze). A stalled connection is closed, so that
// every call waiting on it fails at once and the caller can dial again.
func (s *SSH) Ping(ctx context.Context, timeout time.Duration) error {
	errc := make(chan error, 1)
	go func() {
		_, _, err := s.client.SendRequest("keepalive@openssh.com", true, nil)
		errc <- err
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-errc:
		if err != nil {
			s.Close()
			return fmt.Errorf("%s: connection lost: %w", s.name, err)
		}
		return nil
	case <-s.closed:
		return fmt.Errorf("%s: connection closed", s.name)
	case <-t.C:
		s.Close()
		return fmt.Errorf("%s: %w: no keepalive answer within %s", s.name, ErrStalled, timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ErrStalled is wrapped by Ping when the connection stopped answering.
var ErrStalled = errors.New("connection stalled")
