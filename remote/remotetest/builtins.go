package remotetest

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

func clean(p string) string { return path.Clean(p) }
func dirOf(p string) string { return path.Dir(path.Clean(p)) }
func base(p string) string  { return path.Base(p) }

// operands drops leading options (recorded in opts) up to "--".
func operands(args []string) (opts map[string]bool, rest []string) {
	opts = map[string]bool{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return opts, args[i+1:]
		}
		if len(a) > 1 && a[0] == '-' {
			for _, c := range a[1:] {
				opts[string(c)] = true
			}
			continue
		}
		return opts, args[i:]
	}
	return opts, nil
}

// builtin runs one program with h.mu held. The error is only for an
// injected broken connection.
func (s *shell) builtin(args []string, stdin []byte, out, errb *bytes.Buffer) (int, error) {
	h := s.h
	name := args[0]
	if err := h.fail(base(name), args[1:]...); err != nil {
		if transport(err) {
			return 0, err
		}
		fmt.Fprintln(errb, err.Error())
		return 1, nil
	}
	fail := func(format string, a ...any) (int, error) {
		fmt.Fprintf(errb, name+": "+format+"\n", a...)
		return 1, nil
	}
	switch name {
	case "true", ":":
		return 0, nil
	case "false":
		return 1, nil
	case "set":
		for _, a := range args[1:] {
			switch a {
			case "-e":
				s.errE = true
			case "+e":
				s.errE = false
			}
		}
		return 0, nil
	case "umask", "sync":
		return 0, nil
	case "echo":
		out.WriteString(strings.Join(args[1:], " ") + "\n")
		return 0, nil
	case "printf":
		if len(args) > 1 {
			f := strings.ReplaceAll(args[1], `\n`, "\n")
			vals := make([]any, len(args[2:]))
			for i, v := range args[2:] {
				vals[i] = v
			}
			fmt.Fprintf(out, f, vals...)
		}
		return 0, nil
	case "cat":
		_, files := operands(args[1:])
		if len(files) == 0 {
			out.Write(stdin)
			return 0, nil
		}
		code := 0
		for _, f := range files {
			n := h.files[clean(f)]
			if n == nil {
				fmt.Fprintf(errb, "cat: %s: No such file or directory\n", f)
				code = 1
				continue
			}
			out.Write(n.Data)
		}
		return code, nil
	case "date":
		if len(args) > 1 && args[1] == "+%s" {
			fmt.Fprintf(out, "%d\n", h.now().Unix())
			return 0, nil
		}
		out.WriteString(h.now().UTC().Format("Mon Jan 2 15:04:05 UTC 2006") + "\n")
		return 0, nil
	case "uname":
		out.WriteString("x86_64\n")
		return 0, nil
	case "mkdir":
		_, dirs := operands(args[1:])
		for _, d := range dirs {
			h.mkdirAll(d)
		}
		return 0, nil
	case "install":
		opts, rest := installArgs(args[1:])
		if !opts.dir {
			return fail("only install -d is modelled")
		}
		for _, d := range rest {
			h.mkdirAll(d)
		}
		return 0, nil
	case "mv":
		_, ops := operands(args[1:])
		if len(ops) != 2 {
			return fail("want 2 operands")
		}
		src, dst := clean(ops[0]), clean(ops[1])
		n := h.files[src]
		if n == nil {
			return fail("cannot stat '%s': No such file or directory", ops[0])
		}
		if !h.isDir(dirOf(dst)) {
			return fail("cannot move '%s' to '%s': No such file or directory", ops[0], ops[1])
		}
		if old := h.files[dst]; old != nil && old != n {
			defer h.release(dst, old)
		}
		delete(h.files, src)
		h.files[dst] = n
		return 0, nil
	case "ln":
		opts, ops := operands(args[1:])
		if len(ops) != 2 || opts["s"] {
			return fail("only hard links with 2 operands are modelled")
		}
		src, dst := clean(ops[0]), clean(ops[1])
		n := h.files[src]
		if n == nil {
			return fail("failed to access '%s': No such file or directory", ops[0])
		}
		if old := h.files[dst]; old != nil {
			if !opts["f"] {
				return fail("failed to create hard link '%s': File exists", ops[1])
			}
			defer h.release(dst, old)
		}
		h.files[dst] = n
		return 0, nil
	case "rm":
		opts, ops := operands(args[1:])
		code := 0
		for _, p := range ops {
			n := h.files[clean(p)]
			if n == nil {
				if !opts["f"] {
					fmt.Fprintf(errb, "rm: cannot remove '%s': No such file or directory\n", p)
					code = 1
				}
				continue
			}
			delete(h.files, clean(p))
			h.release(clean(p), n)
		}
		return code, nil
	case "chown", "chmod":
		_, ops := operands(args[1:])
		if len(ops) < 2 {
			return fail("missing operand")
		}
		for _, p := range ops[1:] {
			n := h.files[clean(p)]
			if n == nil {
				return fail("cannot access '%s': No such file or directory", p)
			}
			if name == "chown" {
				n.Owner = ops[0]
				continue
			}
			m, err := strconv.ParseUint(ops[0], 8, 32)
			if err != nil {
				return fail("invalid mode: '%s'", ops[0])
			}
			n.Mode = fs.FileMode(m)
		}
		return 0, nil
	case "sha256sum":
		_, files := operands(args[1:])
		code := 0
		for _, f := range files {
			n := h.files[clean(f)]
			if n == nil {
				fmt.Fprintf(errb, "sha256sum: %s: No such file or directory\n", f)
				code = 1
				continue
			}
			fmt.Fprintf(out, "%s  %s\n", n.Sum(), f)
		}
		return code, nil
	case "stat":
		return s.stat(args[1:], out, errb)
	case "test", "[":
		return s.test(args), nil
	case "df":
		_, dirs := operands(args[1:])
		out.WriteString("Filesystem 1024-blocks Used Available Capacity Mounted on\n")
		for _, d := range dirs {
			if !h.isDir(d) {
				fmt.Fprintf(errb, "df: %s: No such file or directory\n", d)
				return 1, nil
			}
			avail := int64(1 << 40)
			if k := h.freeFor(d); k != "" {
				avail = h.free[k]
			}
			fmt.Fprintf(out, "fake 1000000 0 %d 1%% %s\n", avail/1024, d)
		}
		return 0, nil
	case "find":
		return s.find(args[1:], out, errb)
	}
	hd := h.Handlers[name]
	if hd == nil {
		hd = h.Handlers[base(name)]
	}
	if hd == nil {
		hd = h.Fallback
	}
	if hd == nil {
		return 0, nil
	}
	h.mu.Unlock()
	o, e, code := hd(h, args, stdin)
	h.mu.Lock()
	out.WriteString(o)
	errb.WriteString(e)
	return code, nil
}
