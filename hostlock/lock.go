package hostlock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/edgectl/edgectl/remote"
)

// DefaultPath is where the lock lives on a host.
const DefaultPath = "/var/lib/edgectl/lock"

// Kinds of run that take the lock.
const (
	KindDeploy   = "deploy"
	KindInstall  = "install"
	KindCert     = "cert"
	KindTakeover = "takeover"
)

// Who is "user@machine".
func (h Holder) Who() string { return h.User + "@" + h.Machine }

// Max is MaxMS as a duration.
func (h Holder) Max() time.Duration { return time.Duration(h.MaxMS) * time.Millisecond }

// Describe is one line: "alice@laptop (deploy fleet.yaml, pid 4242) since
// 12:03:04 UTC, 5m10s ago".
func (s Status) Describe() string {
	if !s.Held {
		return "not locked"
	}
	if s.Unreadable != "" {
		return fmt.Sprintf("a lock file edgectl cannot read (%s), since %s, %s ago", s.Unreadable, s.Since.UTC().Format(time.DateTime+" UTC"), s.Age.Round(time.Second))
	}
	h := s.Holder
	where := ""
	if s.Origin != "" {
		where = " from " + s.Origin
	}
	return fmt.Sprintf("%s%s (%s, pid %d) since %s, %s ago", h.Who(), where, h.Command, h.PID,
		s.Since.UTC().Format(time.DateTime+" UTC"), s.Age.Round(time.Second))
}

func (e *HeldError) Error() string {
	s := e.Status
	switch {
	case s.Stale:
		return fmt.Sprintf("%s: locked by %s; that is longer than the run's maximum of %s, so its process has probably died: check with its holder, then release the lock",
			s.Host, s.Describe(), s.Holder.Max().Round(time.Second))
	default:
		return fmt.Sprintf("%s: locked by %s; wait for it to finish (it may run up to %s)", s.Host, s.Describe(), s.Holder.Max().Round(time.Second))
	}
}

// ErrNotHeld is returned by Release when the lock is no longer this run's.
var ErrNotHeld = errors.New("the lock is no longer held by this run")

// Lock is a lock this run holds.
type Lock struct {
	host   remote.Host
	path   string
	holder Holder
	// TookOver is the lock that was removed to take this one: a forced
	// unlock, or a holder whose process is gone. nil otherwise.
	TookOver *Status
}

// Options tune Acquire.
type Options struct {
	// Path of the lock (default DefaultPath).
	Path string
	// Wait is how long a held lock is waited for (0: not at all).
	Wait time.Duration
	// Poll is the pause between tries while waiting (default 1s).
	Poll time.Duration
	// Force removes a lock held by someone else (the caller shows who).
	Force bool
	// OnWait is called before each pause while waiting.
	OnWait func(Status)
}

// Acquire takes the lock on h for holder me. A lock held by another run
// gives a *HeldError once Wait has passed.
func Acquire(ctx context.Context, h remote.Host, me Holder, o Options) (*Lock, error) {
	if o.Path == "" {
		o.Path = DefaultPath
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	data, err := json.Marshal(me)
	if err != nil {
		return nil, err
	}
	tmp := path.Join(path.Dir(o.Path), "."+path.Base(o.Path)+remote.TempInfix+me.Token)
	q := remote.ShellQuote
	take := fmt.Sprintf("set -e\nmkdir -p -- %s\ncat > %s\necho \"origin $SSH_CLIENT\" >> %s\nln -- %s %s\nrm -f -- %s\n",
		q(path.Dir(o.Path)), q(tmp), q(tmp), q(tmp), q(o.Path), q(tmp))
	start := time.Now()
	l := &Lock{host: h, path: o.Path, holder: me}
	for {
		_, err := h.Run(ctx, take, append(data, '\n'))
		if err == nil {
			return l, nil
		}
		if remote.ExitCode(err) < 0 {
			return nil, fmt.Errorf("take the lock %s: %w", o.Path, err)
		}
		// The link failed: read who holds it (and drop our temp file).
		res, rerr := h.Run(ctx, "rm -f -- "+q(tmp)+"\n"+readScript(o.Path), nil)
		if rerr != nil {
			return nil, fmt.Errorf("take the lock %s: %w (and reading it: %w)", o.Path, err, rerr)
		}
		st, perr := parseStatus(h.Name(), o.Path, res.Stdout)
		if perr != nil {
			return nil, perr
		}
		switch {
		case !st.Held:
			continue // released meanwhile
		case (o.Force || st.Gone) && l.TookOver == nil:
			if _, err := h.Run(ctx, "rm -f -- "+q(o.Path), nil); err != nil {
				return nil, fmt.Errorf("remove the lock %s: %w", o.Path, err)
			}
			l.TookOver = &st
			continue
		case time.Since(start) >= o.Wait:
			return nil, &HeldError{Status: st}
		}
		if o.OnWait != nil {
			o.OnWait(st)
		}
		select {
		case <-ctx.Done():
			return nil, &HeldError{Status: st}
		case <-time.After(min(o.Poll, o.Wait-time.Since(start)+10*time.Millisecond)):
		}
	}
}

// Release removes the lock if this run still holds it (ErrNotHeld when
// someone removed or replaced it meanwhile).
func (l *Lock) Release(ctx context.Context) error {
	st, err := Read(ctx, l.host, l.path)
	if err != nil {
		return err
	}
	if !st.Held || st.Holder.Token != l.holder.Token {
		return ErrNotHeld
	}
	// Between the read and the removal only a forced unlock could slip in
	// a new lock; that race is accepted.
	if _, err := l.host.Run(ctx, "rm -f -- "+remote.ShellQuote(l.path), nil); err != nil {
		return fmt.Errorf("release the lock %s: %w", l.path, err)
	}
	return nil
}

// Remove deletes the lock at p whoever holds it and returns what it said
// (Held false when there was none): `edgectl lock release`.
func Remove(ctx context.Context, h remote.Host, p string) (Status, error) {
	st, err := Read(ctx, h, p)
	if err != nil || !st.Held {
		return st, err
	}
	if _, err := h.Run(ctx, "rm -f -- "+remote.ShellQuote(p), nil); err != nil {
		return st, fmt.Errorf("remove the lock %s: %w", p, err)
	}
	return st, nil
}
