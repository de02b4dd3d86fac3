package provision

import (
	"context"
	"path"
	"sort"
	"strings"

	"github.com/edgectl/edgectl/remote"
)

// tempsCmd lists the temporary files next to the managed files and in the
// state directory.
func tempsCmd(l Layout, files []string) string {
	dirs := managedDirs(append(files, path.Join(l.StateDir, JournalName)))
	for i, d := range dirs {
		dirs[i] = remote.ShellQuote(d)
	}
	return "find -- " + strings.Join(dirs, " ") + " -maxdepth 1 -name '.*" + remote.TempInfix + "*' 2>/dev/null"
}

// parseTemps reads tempsCmd's output, leaving out the temporary files of
// lock attempts (another run may be trying the lock right now).
func parseTemps(out string) []string {
	var temps []string
	for line := range strings.Lines(out) {
		p := strings.TrimSpace(line)
		if p != "" && !strings.HasPrefix(path.Base(p), "."+LockName+".") {
			temps = append(temps, p)
		}
	}
	return temps
}

// removeTemps removes the temporary files left next to the managed files
// (a cut-off upload, a journal write cut off): while this run holds the
// lock, no other edgectl run writes there.
func removeTemps(ctx context.Context, h remote.Host, l Layout, files []string) error {
	res, err := h.Run(ctx, tempsCmd(l, files), nil)
	if err != nil && remote.ExitCode(err) < 0 {
		return err
	}
	temps := parseTemps(string(res.Stdout))
	if len(temps) == 0 {
		return nil
	}
	for i, t := range temps {
		temps[i] = remote.ShellQuote(t)
	}
	_, err = h.Run(ctx, "rm -f -- "+strings.Join(temps, " "), nil)
	return err
}

// managedDirs are the distinct directories of files, sorted.
func managedDirs(files []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range files {
		if d := path.Dir(f); !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

// spaceDirs are the directories whose free space matters (the managed
// files' and the state directory) and all their parents, so that a
// directory that does not exist yet is judged by the one it will be made in.
func spaceDirs(l Layout, files []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range append(managedDirs(files), l.StateDir) {
		for ; ; d = path.Dir(d) {
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
			if d == "/" || d == "." {
				break
			}
		}
	}
	sort.Strings(out)
	return out
}
