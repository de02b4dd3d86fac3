package remotetest

import (
	"bytes"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
)

type installOpts struct{ dir bool }

func installArgs(args []string) (installOpts, []string) {
	var o installOpts
	var rest []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-d":
			o.dir = true
		case a == "-m" || a == "-o" || a == "-g":
			i++
		case a == "--":
		default:
			rest = append(rest, a)
		}
	}
	return o, rest
}

// stat supports -c with %a %U %G %Y %s %n, and -L (the model has no
// symbolic links).
func (s *shell) stat(args []string, out, errb *bytes.Buffer) (int, error) {
	format := "%n"
	var files []string
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == "-c" && i+1 < len(args):
			format = args[i+1]
			i++
		case args[i] == "--", args[i] == "-L":
		default:
			files = append(files, args[i])
		}
	}
	code := 0
	for _, f := range files {
		n := s.h.files[clean(f)]
		if n == nil {
			fmt.Fprintf(errb, "stat: cannot statx '%s': No such file or directory\n", f)
			code = 1
			continue
		}
		user, group, _ := strings.Cut(n.Owner, ":")
		r := strings.NewReplacer("%a", strconv.FormatUint(uint64(n.Mode.Perm()), 8), "%U", user, "%G", group,
			"%Y", strconv.FormatInt(n.MTime.Unix(), 10), "%s", strconv.Itoa(len(n.Data)), "%n", f)
		out.WriteString(r.Replace(format) + "\n")
	}
	return code, nil
}

// test supports -e -f -d -x -s and "!" before them.
func (s *shell) test(args []string) int {
	a := args[1:]
	if args[0] == "[" && len(a) > 0 && a[len(a)-1] == "]" {
		a = a[:len(a)-1]
	}
	neg := false
	if len(a) > 0 && a[0] == "!" {
		neg, a = true, a[1:]
	}
	ok := false
	if len(a) == 2 {
		n := s.h.files[clean(a[1])]
		switch a[0] {
		case "-e":
			ok = n != nil || s.h.isDir(a[1])
		case "-f":
			ok = n != nil
		case "-d":
			ok = n == nil && s.h.isDir(a[1])
		case "-x":
			ok = n != nil && n.Mode&0o111 != 0
		case "-s":
			ok = n != nil && len(n.Data) > 0
		case "-S":
			ok = false
		}
	}
	if ok != neg {
		return 0
	}
	return 1
}

// find supports DIR... -maxdepth 1 -name GLOB [-delete].
func (s *shell) find(args []string, out, errb *bytes.Buffer) (int, error) {
	var dirs []string
	glob, del := "*", false
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "--":
		case "-maxdepth", "-type":
			i++
		case "-name":
			if i+1 < len(args) {
				glob = args[i+1]
				i++
			}
		case "-delete":
			del = true
		default:
			dirs = append(dirs, args[i])
		}
	}
	var found []string
	for p := range s.h.files {
		for _, d := range dirs {
			if dirOf(p) == clean(d) {
				if ok, _ := path.Match(glob, base(p)); ok {
					found = append(found, p)
				}
			}
		}
	}
	sort.Strings(found)
	for _, p := range found {
		out.WriteString(p + "\n")
		if del {
			n := s.h.files[p]
			delete(s.h.files, p)
			s.h.release(p, n)
		}
	}
	return 0, nil
}
