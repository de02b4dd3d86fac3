package remotetest

import (
	"bytes"
	"fmt"
	"strings"
)

// shell runs one script against a Fake.
type shell struct {
	h     *Fake
	stdin []byte
	out   bytes.Buffer
	errb  bytes.Buffer
	errE  bool // set -e
}

// token is a word or an operator (";", "&&", "||", "|", ">", ">>", "2>",
// "2>&1", "<").
type token struct {
	s  string
	op bool
}

// lex splits a script into words and operators, honouring single and
// double quotes (no expansion) and backslashes.
func lex(src string) ([]token, error) {
	var toks []token
	var w strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			toks = append(toks, token{s: w.String()})
			w.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(src[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated single quote")
			}
			w.WriteString(src[i+1 : i+1+j])
			inWord = true
			i += j + 1
		case c == '"':
			inWord = true
			for i++; i < len(src) && src[i] != '"'; i++ {
				if src[i] == '\\' && i+1 < len(src) && strings.IndexByte("\"\\$`", src[i+1]) >= 0 {
					i++
				}
				w.WriteByte(src[i])
			}
			if i >= len(src) {
				return nil, fmt.Errorf("unterminated double quote")
			}
		case c == '\\' && i+1 < len(src):
			i++
			if src[i] != '\n' {
				w.WriteByte(src[i])
				inWord = true
			}
		case c == '#' && !inWord:
			for i < len(src) && src[i] != '\n' {
				i++
			}
			i--
		case c == ' ' || c == '\t':
			flush()
		case c == '\n' || c == ';':
			flush()
			toks = append(toks, token{s: ";", op: true})
		case c == '&' || c == '|':
			flush()
			if i+1 < len(src) && src[i+1] == c {
				toks = append(toks, token{s: string([]byte{c, c}), op: true})
				i++
			} else if c == '|' {
				toks = append(toks, token{s: "|", op: true})
			} else {
				return nil, fmt.Errorf("background jobs (&) are not supported")
			}
		case c == '>' || c == '<':
			if inWord && w.String() == "2" && c == '>' {
				w.Reset()
				inWord = false
				if strings.HasPrefix(src[i:], ">&1") {
					toks = append(toks, token{s: "2>&1", op: true})
					i += 2
				} else {
					toks = append(toks, token{s: "2>", op: true})
				}
				continue
			}
			flush()
			if c == '>' && i+1 < len(src) && src[i+1] == '>' {
				toks = append(toks, token{s: ">>", op: true})
				i++
			} else {
				toks = append(toks, token{s: string(c), op: true})
			}
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return toks, nil
}

// command is one simple command with its redirections.
type command struct {
	args   []string
	out    string // > file ("" none)
	append bool   // >> instead of >
	errOut string // 2> file
	in     string // < file
	errToO bool   // 2>&1
}

// link joins commands of a chain: "", "&&" or "||" before the command.
type link struct {
	op  string
	cmd command
}

// parse groups tokens into statements (chains of commands).
func parse(toks []token) ([][]link, error) {
	var stmts [][]link
	var chain []link
	var cur command
	op := ""
	started := false
	end := func() {
		if started {
			chain = append(chain, link{op: op, cmd: cur})
		}
		cur, started = command{}, false
	}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if !t.op {
			cur.args = append(cur.args, t.s)
			started = true
			continue
		}
		switch t.s {
		case ";":
			end()
			if len(chain) > 0 {
				stmts = append(stmts, chain)
			}
			chain, op = nil, ""
		case "&&", "||":
			end()
			op = t.s
		case "|":
			return nil, fmt.Errorf("pipes are not supported by the fake shell")
		case "2>&1":
			cur.errToO = true
		case ">", ">>", "2>", "<":
			if i+1 >= len(toks) || toks[i+1].op {
				return nil, fmt.Errorf("redirection %s without a file", t.s)
			}
			f := toks[i+1].s
			i++
			switch t.s {
			case ">", ">>":
				cur.out, cur.append = f, t.s == ">>"
			case "2>":
				cur.errOut = f
			case "<":
				cur.in = f
			}
			started = true
		}
	}
	end()
	if len(chain) > 0 {
		stmts = append(stmts, chain)
	}
	return stmts, nil
}

// run executes the script; the error is only for an injected broken
// connection (the script's own failures are its exit status).
func (s *shell) run(src string) (int, error) {
	toks, err := lex(src)
	if err != nil {
		fmt.Fprintf(&s.errb, "sh: %v\n", err)
		return 2, nil
	}
	stmts, err := parse(toks)
	if err != nil {
		fmt.Fprintf(&s.errb, "sh: %v\n", err)
		return 2, nil
	}
	status := 0
	for _, chain := range stmts {
		lastRun := 0
		for i, l := range chain {
			if (l.op == "&&" && status != 0) || (l.op == "||" && status == 0) {
				continue
			}
			code, err := s.exec(l.cmd)
			if err != nil {
				return 0, err
			}
			status, lastRun = code, i
		}
		// set -e: a failure ends the script unless a later && or ||
		// of the same list was still to decide.
		if s.errE && status != 0 && lastRun == len(chain)-1 {
			return status, nil
		}
	}
	return status, nil
}

// exec runs one command with its redirections.
func (s *shell) exec(c command) (int, error) {
	if len(c.args) == 0 {
		return 0, nil
	}
	var out, errb bytes.Buffer
	stdin := s.stdin
	h := s.h
	h.mu.Lock()
	h.record(strings.Join(c.args, " "))
	if c.in != "" {
		n := h.files[clean(c.in)]
		if n == nil {
			h.mu.Unlock()
			fmt.Fprintf(&s.errb, "sh: %s: No such file or directory\n", c.in)
			return 1, nil
		}
		stdin = n.Data
	}
	code, err := s.builtin(c.args, stdin, &out, &errb)
	if err == nil && c.out != "" && c.out != "/dev/null" {
		if !h.isDir(dirOf(c.out)) {
			fmt.Fprintf(&errb, "sh: %s: No such file or directory\n", c.out)
			code = 1
		} else {
			p := clean(c.out)
			data := out.Bytes()
			if n := h.files[p]; n != nil && c.append {
				n.Data = append(n.Data, data...)
			} else if !h.take(dirOf(p), int64(len(data))) {
				fmt.Fprintf(&errb, "sh: write error: No space left on device\n")
				code = 1
			} else {
				h.files[p] = &Inode{Data: append([]byte(nil), data...), Mode: 0o644, Owner: h.Owner, MTime: h.now()}
			}
		}
		out.Reset()
	}
	h.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if c.out != "/dev/null" {
		s.out.Write(out.Bytes())
	}
	switch {
	case c.errOut == "/dev/null":
	case c.errToO:
		s.out.Write(errb.Bytes())
	default:
		s.errb.Write(errb.Bytes())
	}
	return code, nil
}
