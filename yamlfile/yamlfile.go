// Package yamlfile loads YAML configuration files strictly: unknown keys and
// wrong types are errors, and every error carries the file, line and column
// it refers to, so users can jump straight to the problem.
package yamlfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

// Problem is one thing wrong with a file, at a position.
type Problem struct {
	File string
	Line int // 1-based; 0 when unknown
	Col  int // 1-based; 0 when unknown
	Msg  string
}

// String formats the problem as file:line:col: msg.
func (p Problem) String() string {
	switch {
	case p.Line > 0 && p.Col > 0:
		return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Msg)
	case p.Line > 0:
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	default:
		return fmt.Sprintf("%s: %s", p.File, p.Msg)
	}
}

// Error is every problem found in one file, sorted by position.
type Error struct {
	Problems []Problem
}

// Error lists the problems one per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Sort orders the problems by line and column.
func (e *Error) Sort() {
	sort.SliceStable(e.Problems, func(i, j int) bool {
		a, b := e.Problems[i], e.Problems[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// Decode parses data (named name in messages) into out, rejecting unknown
// keys. It returns the document's root node so callers can locate semantic
// errors with At. Decoding errors come back as *Error.
func Decode(name string, data []byte, out any) (*yaml.Node, error) {
	var root yaml.Node
	if err := yaml.Load(data, &root); err != nil {
		if noDocument(data) {
			// Empty, blank or comment-only: the zero value; defaults apply.
			return &root, nil
		}
		return nil, convert(name, data, err)
	}
	if root.Kind == 0 || (root.Kind == yaml.DocumentNode && len(root.Content) == 0) {
		// An empty file decodes to the zero value; defaults apply.
		return &root, nil
	}
	if err := root.Load(out, yaml.WithKnownFields()); err != nil {
		return &root, convert(name, data, err)
	}
	return &root, nil
}

// noDocument reports whether data holds no YAML document at all (an empty,
// blank or comment-only file), which yaml.Load rejects.
func noDocument(data []byte) bool {
	l, err := yaml.NewLoader(bytes.NewReader(data))
	if err != nil {
		return false
	}
	var n yaml.Node
	return l.Load(&n) == io.EOF
}

var (
	reNotFound  = regexp.MustCompile(`^field (\S+) not found in type .*$`)
	reConstruct = regexp.MustCompile("^cannot construct !!(\\w+)(?: `(.*)`)? into (\\S+)$")
	reLinePref  = regexp.MustCompile(`^(?:yaml: )?line (\d+)(?:, column (\d+))?: (.*)$`)
)

// friendly rewrites the yaml library's messages into the words a user of a
// config file knows.
func friendly(msg string) string {
	if m := reNotFound.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("unknown key %q", m[1])
	}
	if m := reConstruct.FindStringSubmatch(msg); m != nil {
		want := m[3]
		// Collections carry no value in the message: name them instead.
		got, scalar := fmt.Sprintf("%s %q", m[1], m[2]), true
		switch m[1] {
		case "seq":
			got, scalar = "a list", false
		case "map":
			got, scalar = "a mapping", false
		}
		switch {
		case want == "time.Duration" && scalar:
			return fmt.Sprintf("%q is not a duration (use e.g. 500ms, 5s, 2m)", m[2])
		case want == "time.Duration":
			return fmt.Sprintf("expected a duration (e.g. 500ms, 5s, 2m), got %s", got)
		case (strings.HasPrefix(want, "int") || strings.HasPrefix(want, "uint")) && scalar:
			return fmt.Sprintf("%q is not a whole number", m[2])
		case strings.HasPrefix(want, "int") || strings.HasPrefix(want, "uint"):
			return fmt.Sprintf("expected a whole number, got %s", got)
		case want == "bool" && scalar:
			return fmt.Sprintf("%q is not true or false", m[2])
		case want == "bool":
			return fmt.Sprintf("expected true or false, got %s", got)
		case strings.HasPrefix(want, "[]"):
			return fmt.Sprintf("expected a list, got %s", got)
		case strings.HasPrefix(want, "map") || strings.Contains(want, "."):
			return fmt.Sprintf("expected a mapping (key: value), got %s", got)
		case want == "string":
			return fmt.Sprintf("expected a string, got %s", got)
		}
		return fmt.Sprintf("cannot use %s as %s", got, want)
	}
	return msg
}

func convert(name string, data []byte, err error) error {
	out := &Error{}
	var les *yaml.LoadErrors
	var le *yaml.LoadError
	switch {
	case errors.As(err, &les):
		for _, e := range les.Errors {
			out.Problems = append(out.Problems, Problem{File: name, Line: e.Mark.Line, Col: e.Mark.Column, Msg: friendly(e.Message)})
		}
	case errors.As(err, &le):
		msg := friendly(le.Message)
		if c := le.ContextMark; le.ContextMsg != "" && c.Line > 0 && (c.Line != le.Mark.Line || c.Column != le.Mark.Column) {
			// e.g. an unclosed quote is found at the end of the file:
			// say where the quoted string started.
			msg += fmt.Sprintf(" (%s that starts at line %d, column %d)", le.ContextMsg, c.Line, c.Column)
		}
		if tabAt(data, le.Mark.Line, le.Mark.Column) && !strings.Contains(msg, "tab") {
			msg += ": a tab; indent with spaces"
		}
		out.Problems = append(out.Problems, Problem{File: name, Line: le.Mark.Line, Col: le.Mark.Column, Msg: msg})
	default:
		msg := err.Error()
		p := Problem{File: name, Msg: msg}
		if m := reLinePref.FindStringSubmatch(msg); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
			p.Col, _ = strconv.Atoi(m[2])
			p.Msg = m[3]
		}
		out.Problems = append(out.Problems, p)
	}
	out.Sort()
	return out
}

// tabAt reports whether the character at line:col (1-based) is a tab.
func tabAt(data []byte, line, col int) bool {
	lines := strings.Split(string(data), "\n")
	if line < 1 || line > len(lines) {
		return false
	}
	l := []rune(lines[line-1])
	return col >= 1 && col <= len(l) && l[col-1] == '\t'
}

// At finds the node for a dotted path such as "upstreams.api.servers[0].addr"
// below root and returns its position; for a path whose last element is
// missing it returns the position of the closest parent that exists.
func At(root *yaml.Node, path string) (line, col int) {
	n := root
	if n == nil {
		return 0, 0
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line, col = n.Line, n.Column
	for _, seg := range splitPath(path) {
		next := child(n, seg)
		if next == nil {
			return line, col
		}
		n = next
		line, col = n.Line, n.Column
	}
	return line, col
}

// KeyAt is like At but returns the position of the mapping key rather than
// its value, which reads better for errors about the key itself.
func KeyAt(root *yaml.Node, path string) (line, col int) {
	segs := splitPath(path)
	if len(segs) == 0 || root == nil {
		return At(root, path)
	}
	parentPath := strings.Join(segs[:len(segs)-1], "\x00")
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, seg := range strings.Split(parentPath, "\x00") {
		if seg == "" {
			continue
		}
		if n = child(n, seg); n == nil {
			return At(root, path)
		}
	}
	last := segs[len(segs)-1]
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == last {
				return n.Content[i].Line, n.Content[i].Column
			}
		}
	}
	return At(root, path)
}

func splitPath(path string) []string {
	var segs []string
	for _, part := range strings.Split(path, ".") {
		for part != "" {
			i := strings.IndexByte(part, '[')
			if i < 0 {
				segs = append(segs, part)
				break
			}
			if i > 0 {
				segs = append(segs, part[:i])
			}
			j := strings.IndexByte(part[i:], ']')
			if j < 0 {
				segs = append(segs, part[i:])
				break
			}
			segs = append(segs, part[i:i+j+1])
			part = part[i+j+1:]
		}
	}
	return segs
}

func child(n *yaml.Node, seg string) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if strings.HasPrefix(seg, "[") && strings.HasSuffix(seg, "]") {
		i, err := strconv.Atoi(seg[1 : len(seg)-1])
		if err != nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
			return nil
		}
		return n.Content[i]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == seg {
			return n.Content[i+1]
		}
	}
	return nil
}

// Has reports whether the dotted path exists in the document.
func Has(root *yaml.Node, path string) bool {
	n := root
	if n == nil {
		return false
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return false
		}
		n = n.Content[0]
	}
	for _, seg := range splitPath(path) {
		if n = child(n, seg); n == nil {
			return false
		}
	}
	return true
}
