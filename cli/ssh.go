package cli

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/provision"
	"github.com/edgectl/edgectl/remote"
)

// sshOptions tune how fleet hosts are dialled.
type sshOptions struct {
	// AcceptNew records unknown host keys (--accept-new); with ReadOnly
	// (a dry run) they are trusted for this run only and not written.
	AcceptNew, ReadOnly bool
	// KeepAlive overrides the keepalive interval (0: remote's default).
	KeepAlive time.Duration
}

// fleetDialer opens fleet hosts over SSH (provision.SSHConfigFor), asking
// for the identity file's passphrase on the terminal when it is encrypted
// and stdin is a terminal; elsewhere an encrypted key is an error that says
// to use ssh-agent. Host-key errors say which flag records a key.
func fleetDialer(f *fleet.Fleet, acceptNew bool, ios *IOStreams) provision.Dialer {
	return sshDialer(f, sshOptions{AcceptNew: acceptNew}, ios)
}

func sshDialer(f *fleet.Fleet, o sshOptions, ios *IOStreams) provision.Dialer {
	pass := passphrasePrompt(ios)
	d := provision.SSHDialer(f, func(c *remote.SSHConfig) {
		c.AcceptNew, c.KnownHostsReadOnly, c.Passphrase = o.AcceptNew, o.ReadOnly, pass
		if o.KeepAlive != 0 {
			c.KeepAlive = o.KeepAlive
		}
	})
	return func(ctx context.Context, h fleet.Host) (remote.Host, error) {
		conn, err := d(ctx, h)
		return conn, sshAdvice(err)
	}
}

func dialSSH(ctx context.Context, cfg remote.SSHConfig) (remote.Host, error) {
	s, err := remote.DialSSH(ctx, cfg)
	if err != nil {
		return nil, sshAdvice(err)
	}
	return s, nil
}

// advised is an error with what to do on the command line added; it still
// matches the error it wraps.
type advised struct {
	err    error
	advice string
}

func (a *advised) Error() string { return a.err.Error() + a.advice }
func (a *advised) Unwrap() error { return a.err }

// sshAdvice adds the flag that fixes a host-key problem: the domain error
// says what is wrong, the CLI says how to tell edgectl.
func sshAdvice(err error) error {
	var hk *remote.HostKeyError
	if !errors.As(err, &hk) {
		return err
	}
	switch hk.Kind {
	case remote.HostKeyUnknown:
		return &advised{err, " (run again with --accept-new to record it)"}
	case remote.HostKeyChanged:
		return &advised{err, " (then run again with --accept-new)"}
	}
	return err
}

// passphrasePrompt returns a Passphrase func that asks once per key file on
// the terminal (hosts dial in parallel; one prompt serves them all), or nil
// when stdin is not a terminal.
func passphrasePrompt(ios *IOStreams) func(path string) ([]byte, error) {
	if !ios.IsStdinTTY() {
		return nil
	}
	var mu sync.Mutex
	known := map[string][]byte{}
	return func(path string) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		if p, ok := known[path]; ok {
			return p, nil
		}
		fmt.Fprintf(ios.ErrOut, "Passphrase for %s: ", path)
		p, err := ios.ReadPassword()
		fmt.Fprintln(ios.ErrOut)
		if err != nil {
			return nil, fmt.Errorf("read passphrase: %w", err)
		}
		known[path] = p
		return p, nil
	}
}
