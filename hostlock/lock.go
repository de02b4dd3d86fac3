package hostlock

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path"
	"strconv"
	"strings"
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

// Holder says who holds a lock. It is the lock file's JSON line.
type Holder struct {
	// Kind is deploy, install, cert or takeover.
	Kind string `json:"kind"`
	// User and Machine are the login and host name where the run started.
	User    string `json:"user"`
	Machine string `json:"machine"`
	// MachineID is /etc/machine-id of that machine (to tell machines with
	// the same name apart).
	MachineID string `json:"machine_id,omitempty"`
	// PID is the run's process; PIDStart its start time in clock ticks
	// after boot (/proc/PID/stat), so a reused pid is not taken for it.
	PID      int    `json:"pid"`
	PIDStart uint64 `json:"pid_start,omitempty"`
	// Command is the command line, e.g. "deploy fleet.yaml --hosts a".
	Command string `json:"command"`
	// Token identifies this lock; only its holder releases it.
	Token string `json:"token"`
	// MaxMS is the run's maximum time in milliseconds: a lock held longer
	// is stale.
	MaxMS int64 `json:"max_ms"`
}

// Who is "user@machine".
func (h Holder) Who() string { return h.User + "@" + h.Machine }

// Max is MaxMS as a duration.
func (h Holder) Max() time.Duration { return time.Duration(h.MaxMS) * time.Millisecond }

// Self describes this process as a holder of kind running command, whose
// run takes at most max.
func Self(kind, command string, max time.Duration) Holder {
	h := Holder{Kind: kind, Command: command, PID: os.Getpid(), MaxMS: max.Milliseconds(), Token: newToken()}
	if u, err := user.Current(); err == nil {
		h.User = u.Username
	} else {
		h.User = os.Getenv("USER")
	}
	h.Machine, _ = os.Hostname()
	h.MachineID = machineID()
	h.PIDStart = procStart(h.PID)
	return h
}

func newToken() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func machineID() string {
	b, err := os.ReadFile("/etc/machine-id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// procStart is field 22 of /proc/PID/stat (0 when unknown).
func procStart(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command may hold spaces
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0
	}
	n, _ := strconv.ParseUint(f[19], 10, 64)
	return n
}

// Status is what a lock file says.
type Status struct {
	// Host is the host's name, Path the lock file.
	Host string `json:"host"`
	Path string `json:"path"`
	// Held is false when there is no lock.
	Held   bool   `json:"held"`
	Holder Holder `json:"holder"`
	// Origin is the address the host saw the holder's connection come
	// from ("" for a run on the host itself).
	Origin string `json:"origin,omitempty"`
	// Since is when it was taken (the host's clock); Age how long ago.
	Since time.Time     `json:"since"`
	Age   time.Duration `json:"-"`
	AgeMS int64         `json:"age_ms"`
	// Stale is true when Age is beyond the holder's maximum time.
	Stale bool `json:"stale"`
	// Gone is true when the holder ran on this machine and its process
	// no longer runs.
	Gone bool `json:"gone"`
	// Unreadable is set when the file is not a lock edgectl wrote.
	Unreadable string `json:"unreadable,omitempty"`
}

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

// HeldError is returned by Acquire when another run holds the lock.
type HeldError struct {
	Status Status
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

// readScript prints the host's time, the lock's mtime (or "missing") and
// the lock file.
func readScript(p string) string {
	q := remote.ShellQuote(p)
	return "date +%s\nstat -c %Y -- " + q + " 2>/dev/null || echo missing\ncat -- " + q + " 2>/dev/null || true\n"
}

// Read returns what the lock file at p on h says.
func Read(ctx context.Context, h remote.Host, p string) (Status, error) {
	res, err := h.Run(ctx, readScript(p), nil)
	if err != nil {
		return Status{}, fmt.Errorf("read the lock %s: %w", p, err)
	}
	return parseStatus(h.Name(), p, res.Stdout)
}

func parseStatus(host, p string, out []byte) (Status, error) {
	st := Status{Host: host, Path: p}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) < 2 {
		return st, fmt.Errorf("read the lock %s on %s: unexpected answer %q", p, host, out)
	}
	now, err1 := strconv.ParseInt(strings.TrimSpace(lines[0]), 10, 64)
	if strings.TrimSpace(lines[1]) == "missing" {
		return st, nil
	}
	mtime, err2 := strconv.ParseInt(strings.TrimSpace(lines[1]), 10, 64)
	if err1 != nil || err2 != nil {
		return st, fmt.Errorf("read the lock %s on %s: unexpected answer %q", p, host, out)
	}
	st.Held = true
	st.Since = time.Unix(mtime, 0)
	st.Age = time.Duration(max(now-mtime, 0)) * time.Second
	st.AgeMS = st.Age.Milliseconds()
	body := lines[2:]
	if len(body) == 0 || json.Unmarshal([]byte(body[0]), &st.Holder) != nil || st.Holder.Token == "" {
		st.Unreadable = "not edgectl's JSON"
		if len(body) == 0 {
			st.Unreadable = "empty"
		}
		return st, nil
	}
	for _, l := range body[1:] {
		if rest, ok := strings.CutPrefix(l, "origin "); ok {
			if f := strings.Fields(rest); len(f) > 0 && f[0] != "$SSH_CLIENT" {
				st.Origin = f[0]
			}
		}
	}
	st.Stale = st.Holder.MaxMS > 0 && st.Age > st.Holder.Max()
	st.Gone = st.Holder.MachineID != "" && st.Holder.MachineID == machineID() && !alive(st.Holder.PID, st.Holder.PIDStart)
	return st, nil
}

// alive reports whether pid runs and is the process that started at start.
func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	got := procStart(pid)
	return got != 0 && (start == 0 || got == start)
}

// Lock is a lock this run holds.
type Lock struct {
	host   remote.Host
	path   string
	holder Holder
	// TookOver is the lock that was removed to take this one: a forced
	// unlock, or a holder whose process is gone. nil otherwise.
	TookOver *Status
}

// Holder is who this lock says holds it.
func (l *Lock) Holder() Holder { return l.holder }

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
