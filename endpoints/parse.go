package endpoints

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// List is the content of a valid endpoints file.
type List struct {
	// Domains are the hostnames under DomainList:, in file order, spelled as
	// written (case included), duplicates removed.
	Domains []string
	// IPs are the addresses under IPList:, in file order, duplicates removed.
	IPs []netip.Addr
	// Warnings report what was tolerated, such as dropped duplicates.
	Warnings []Problem
}

// Problem is one finding in an endpoints file, at a 1-based line and byte
// column. Col is 0 when the finding concerns a whole line.
type Problem struct {
	Line int    `json:"line"`
	Col  int    `json:"col"`
	Msg  string `json:"message"`
}

// String formats p as "line:col: message", or "line: message" when Col is 0.
func (p Problem) String() string {
	if p.Col == 0 {
		return strconv.Itoa(p.Line) + ": " + p.Msg
	}
	return strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col) + ": " + p.Msg
}

// ParseError lists every problem that makes an endpoints file invalid.
type ParseError struct {
	// File is the name given to Parse, used as the prefix of every line.
	File string
	// Problems are in file order; there is at least one.
	Problems []Problem
}

// Error returns one "file:line:col: message" line per problem.
func (e *ParseError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.File)
		b.WriteByte(':')
		b.WriteString(p.String())
	}
	return b.String()
}

// ParseFile reads and parses the endpoints file at path. Problems are
// reported against path as given. A file that cannot be read returns the
// *fs.PathError from os, so errors.Is(err, fs.ErrNotExist) works.
func ParseFile(path string) (*List, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return Parse(path, fh)
}

// Parse reads an endpoints file from r. name labels the problems, usually the
// file's path ("<input>" when empty). It returns a *ParseError listing every
// invalid line, or another error if r fails.
func Parse(name string, r io.Reader) (*List, error) {
	if name == "" {
		name = "<input>"
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	p := &parser{
		list:    &List{Domains: []string{}, IPs: []netip.Addr{}},
		domains: map[string]bool{},
		ips:     map[netip.Addr]bool{},
	}
	text := strings.TrimPrefix(string(data), "\uFEFF") // editors' byte order mark
	for i, line := range strings.Split(text, "\n") {
		p.parseLine(i+1, strings.TrimSuffix(line, "\r"))
	}
	if len(p.errs) == 0 && len(p.list.Domains)+len(p.list.IPs) == 0 {
		p.errorf(1, 0, "no domains or IPs: clients would get an empty list and nowhere to fail over to; add at least one under DomainList: or IPList:")
	}
	if len(p.errs) > 0 {
		return nil, &ParseError{File: name, Problems: p.errs}
	}
	return p.list, nil
}

// section is the part of the file a value belongs to.
type section int

const (
	sectionNone section = iota
	sectionDomains
	sectionIPs
)

type parser struct {
	list    *List
	section section
	domains map[string]bool // lower-cased hostnames seen
	ips     map[netip.Addr]bool
	errs    []Problem
}

func (p *parser) errorf(line, col int, format string, args ...any) {
	p.errs = append(p.errs, Problem{Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) warnf(line, col int, format string, args ...any) {
	p.list.Warnings = append(p.list.Warnings, Problem{Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

// parseLine handles one line without its line ending.
func (p *parser) parseLine(n int, line string) {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	trimmed := strings.TrimSpace(line)
	if trimmed == "" {
		return
	}
	start := strings.Index(line, trimmed)
	if name, rest, ok := strings.Cut(trimmed, ":"); ok {
		switch name = strings.TrimSpace(name); {
		case strings.EqualFold(name, "DomainList"):
			p.section = sectionDomains
			p.parseValues(n, line, start+len(trimmed)-len(rest))
			return
		case strings.EqualFold(name, "IPList"):
			p.section = sectionIPs
			p.parseValues(n, line, start+len(trimmed)-len(rest))
			return
		case strings.TrimSpace(rest) == "" && looksLikeMarker(name):
			p.errorf(n, start+1, "unknown section marker %q: use DomainList: or IPList:", trimmed)
			return
		case looksLikeMarker(name) && (strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, "\t")):
			// "Foo: bar" is a mistyped section, not a host with a port
			// (a port follows its colon without a space).
			p.errorf(n, start+1, "unknown section marker %q: use DomainList: or IPList:", name+":")
			return
		}
	}
	p.parseValues(n, line, 0)
}

// looksLikeMarker reports whether s, the text before a line's only colon,
// reads like a section name rather than a mistyped address: a word starting
// with a letter that is not a group of hex digits.
func looksLikeMarker(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	hex := len(s) <= 4
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && !isDigit(c) && c != '_' && c != ' ' && c != '-' {
			return false
		}
		if !strings.ContainsRune("0123456789abcdefABCDEF", rune(c)) {
			hex = false
		}
	}
	return !hex
}

// parseValues handles the comma-separated values in line[from:], reporting
// each at its column in line.
func (p *parser) parseValues(n int, line string, from int) {
	pos := from
	for _, field := range strings.Split(line[from:], ",") {
		if v := strings.TrimSpace(field); v != "" {
			p.parseValue(n, pos+strings.Index(field, v)+1, v)
		}
		pos += len(field) + 1
	}
}

// parseValue checks one value against the current section and records it.
func (p *parser) parseValue(n, col int, v string) {
	switch p.section {
	case sectionNone:
		p.errorf(n, col, "%q comes before any section marker: put DomainList: or IPList: above it", v)
	case sectionDomains:
		if err := checkHostname(v); err != nil {
			p.errorf(n, col, "%q is not a valid hostname: %v", v, err)
			return
		}
		key := strings.ToLower(v)
		if p.domains[key] {
			p.warnf(n, col, "duplicate %q dropped", v)
			return
		}
		p.domains[key] = true
		p.list.Domains = append(p.list.Domains, v)
	case sectionIPs:
		a, err := parseIP(v)
		if errors.Is(err, errNotIP) {
			p.errorf(n, col, "%q is not a valid IP address", v)
			return
		}
		if err != nil {
			p.errorf(n, col, "%q is not a valid IP address: %v", v, err)
			return
		}
		if p.ips[a] {
			p.warnf(n, col, "duplicate %q dropped", v)
			return
		}
		p.ips[a] = true
		p.list.IPs = append(p.list.IPs, a)
	}
}
