package provision

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/edgectl/edgectl/remote"
)

// checkSpace refuses to start when a directory cannot hold the new files
// (the old ones stay as backups, so their space is not given back).
func checkSpace(h Host, p Plan, changes []Change) error {
	need := map[string]int64{}
	for _, c := range changes {
		if c.Op == OpCreate || c.Op == OpUpdate {
			need[path.Dir(c.Path)] += int64(len(c.Data))
		}
	}
	need[h.Layout.StateDir] += 64 << 10 // the journal
	const margin = 1 << 20
	for dir, n := range need {
		if free := p.Facts.FreeFor(dir); free >= 0 && free < n+margin {
			return &NoSpaceError{Host: h.Name(), Dir: dir, Need: n + margin, Free: free}
		}
	}
	return nil
}

// retrying runs fn again while it fails because the connection broke,
// dialling the host again in between, for up to DefaultReconnect.
func (h Host) retrying(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(DefaultReconnect)
	for {
		err := fn()
		if err == nil || !remote.Broken(err) || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		h.logf("the SSH connection broke (%v); dialling again", err)
		if c, ok := h.Host.(checker); ok {
			_ = c.Check(ctx, 3*time.Second)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Second):
		}
	}
}

// wait sleeps d unless the run is stopped first.
func (h Host) wait(d time.Duration) error {
	var stop <-chan struct{}
	if h.Stop != nil {
		stop = h.Stop.Done()
	}
	select {
	case <-time.After(d):
		return nil
	case <-stop:
		return ErrStopped
	}
}

// prepare creates the edgectl user and the directories the files go to,
// and removes temporary files earlier runs left behind.
func prepare(ctx context.Context, h Host, stale []string) error {
	cfg := h.Agent
	q := remote.ShellQuote
	var b strings.Builder
	b.WriteString("set -e\n")
	b.WriteString("id -u edgectl >/dev/null 2>&1 || useradd --system --user-group --no-create-home --home-dir " +
		q(h.Layout.StateDir) + " --shell /usr/sbin/nologin edgectl\n")
	dirs := []string{h.Layout.ConfigDir, path.Dir(h.Layout.Binary), h.Layout.UnitDir, h.Layout.SysctlDir, h.Layout.StateDir}
	if cfg.Endpoints.File != "" {
		dirs = append(dirs, path.Dir(cfg.Endpoints.File))
	}
	for _, d := range dirs {
		fmt.Fprintf(&b, "install -d -m 0755 -- %s\n", q(d))
	}
	if cfg.TLS.CertsDir != "" {
		// The agent (user edgectl) reads the keys; cert writes them 0600
		// with the owner of this directory.
		fmt.Fprintf(&b, "install -d -m 0750 -o edgectl -g edgectl -- %s\n", q(cfg.TLS.CertsDir))
	}
	if cfg.ACMEChallengeDir != "" {
		fmt.Fprintf(&b, "install -d -m 0755 -- %s\n", q(cfg.ACMEChallengeDir))
	}
	if len(stale) > 0 {
		h.logf("removing %d temporary file(s) of an earlier run", len(stale))
		quoted := make([]string, len(stale))
		for i, s := range stale {
			quoted[i] = q(s)
		}
		fmt.Fprintf(&b, "rm -f -- %s\n", strings.Join(quoted, " "))
	}
	if err := h.run(ctx, b.String()); err != nil {
		return fmt.Errorf("create the edgectl user and directories: %w", err)
	}
	return nil
}
