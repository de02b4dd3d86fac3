package provision

import (
	"context"
	"fmt"
	"strings"

	"github.com/edgectl/edgectl/remote"
)

// sums runs sha256sum on paths and returns path → sum for those that
// exist (a missing one is simply absent).
func sums(ctx context.Context, h remote.Host, paths []string) (map[string]string, error) {
	out := map[string]string{}
	if len(paths) == 0 {
		return out, nil
	}
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = remote.ShellQuote(p)
	}
	res, err := h.Run(ctx, "sha256sum -- "+strings.Join(q, " ")+" 2>/dev/null || true", nil)
	if err != nil {
		return nil, fmt.Errorf("checksum files: %w", err)
	}
	for line := range strings.Lines(string(res.Stdout)) {
		sum, p, ok := strings.Cut(strings.TrimRight(line, "\n"), "  ")
		if ok && len(sum) == 64 {
			out[p] = sum
		}
	}
	return out, nil
}

// backup keeps the version of every file about to be replaced as
// <file>.prev: a hard link, so it needs no space and cannot be cut short,
// then checks that each backup holds what the plan saw. Backups an
// interrupted run made are kept as they are and only checked.
func backup(ctx context.Context, h Host, j *Journal, p Plan) error {
	var b strings.Builder
	b.WriteString("set -e\n")
	var check []string
	for i := range j.Files {
		f := &j.Files[i]
		if f.Op != OpUpdate {
			continue
		}
		if !f.Inherited {
			f.Prev = prevPath(f.Path)
			fmt.Fprintf(&b, "ln -f -- %s %s\n", remote.ShellQuote(f.Path), remote.ShellQuote(f.Prev))
		}
		check = append(check, f.Prev)
	}
	if len(check) == 0 {
		return nil
	}
	if strings.Count(b.String(), "\n") > 1 {
		if err := h.run(ctx, b.String()); err != nil {
			return fmt.Errorf("keep the previous versions: %w", err)
		}
	}
	got, err := sums(ctx, h, check)
	if err != nil {
		return err
	}
	for i := range j.Files {
		f := &j.Files[i]
		if f.Op != OpUpdate {
			continue
		}
		want := f.PrevSHA256
		if !f.Inherited {
			want = p.Facts.Sums[f.Path]
		}
		if got[f.Prev] != want || want == "" {
			if !f.Inherited {
				f.PrevSHA256 = ""
			}
			return &BackupError{Path: f.Path, Backup: f.Prev, Want: want, Got: got[f.Prev]}
		}
		f.PrevSHA256 = want
	}
	return nil
}

// upload writes every new file under its temporary name, gives it its
// owner and mode, and checks what arrived: after this nothing but a
// rename is left to do, so no reader ever sees a file with the wrong owner
// (an agent.yaml the agent cannot read) or half a binary.
func upload(ctx context.Context, h Host, changes []Change) error {
	q := remote.ShellQuote
	var b strings.Builder
	b.WriteString("set -e\n")
	var staged []string
	var size int64
	for _, c := range changes {
		if c.Op == OpCreate || c.Op == OpUpdate {
			size += int64(len(c.Data))
		}
	}
	for _, c := range changes {
		if c.Op != OpCreate && c.Op != OpUpdate {
			continue
		}
		if len(staged) == 0 {
			h.logf("uploading %s", mb(size))
		}
		s := stagePath(c.Path, h.RunID)
		if err := h.WriteFile(ctx, s, c.Data, c.Mode); err != nil {
			return fmt.Errorf("upload %s: %w", c.Path, err)
		}
		fmt.Fprintf(&b, "chown -- %s %s\nchmod -- %s %s\n", q(c.Owner), q(s), modeString(c.Mode), q(s))
		staged = append(staged, s)
	}
	if len(staged) == 0 {
		return nil
	}
	if err := h.run(ctx, b.String()); err != nil {
		return fmt.Errorf("set owner and mode: %w", err)
	}
	got, err := sums(ctx, h, staged)
	if err != nil {
		return err
	}
	for _, c := range changes {
		if c.Op != OpCreate && c.Op != OpUpdate {
			continue
		}
		if s := stagePath(c.Path, h.RunID); got[s] != c.Sum {
			return fmt.Errorf("upload %s: the host has sha256 %s, not %s (cut off?)", c.Path, short(got[s]), short(c.Sum))
		}
	}
	return nil
}

// checkConfig runs `agent --check` with the binary and the agent.yaml
// this deploy installs (still under their temporary names), so a config
// the host's agent would refuse is caught before anything is replaced.
func checkConfig(ctx context.Context, h Host, changes []Change) error {
	bin, cfg := h.Layout.Binary, h.Layout.AgentConfig
	for _, c := range changes {
		if c.Op != OpCreate && c.Op != OpUpdate {
			continue
		}
		switch c.Path {
		case bin:
			bin = stagePath(bin, h.RunID)
		case cfg:
			cfg = stagePath(cfg, h.RunID)
		}
	}
	_, err := h.Run(ctx, fmt.Sprintf("%s agent --check --config %s", remote.ShellQuote(bin), remote.ShellQuote(cfg)), nil)
	if err != nil {
		msg := strings.ReplaceAll(err.Error(), cfg, h.Layout.AgentConfig)
		msg = strings.ReplaceAll(msg, bin, h.Layout.Binary)
		return fmt.Errorf("agent.yaml rejected on the host: %s", msg)
	}
	return nil
}

// install renames the uploaded files over the old ones and repairs the
// owner and mode of files whose content was right.
func install(ctx context.Context, h Host, changes []Change) error {
	q := remote.ShellQuote
	var b strings.Builder
	b.WriteString("set -e\n")
	for _, c := range changes {
		switch c.Op {
		case OpCreate, OpUpdate:
			fmt.Fprintf(&b, "mv -f -- %s %s\n", q(stagePath(c.Path, h.RunID)), q(c.Path))
		case OpFix:
			fmt.Fprintf(&b, "chown -- %s %s\nchmod -- %s %s\n", q(c.Owner), q(c.Path), modeString(c.Mode), q(c.Path))
		}
	}
	if err := h.run(ctx, b.String()); err != nil {
		return fmt.Errorf("move the new files into place: %w", err)
	}
	return nil
}
