package nginxconf

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// Directive is one nginx directive: `name args…;` or `name args… { block }`.
type Directive struct {
	Name  string
	Args  []string
	Block []*Directive // nil for a simple directive
	File  string
	Line  int
}

// Config is the configuration nginx -T printed, includes resolved.
type Config struct {
	// Main is the top-level directives of the main file.
	Main []*Directive
	// Files are the dumped file names in the order nginx printed them.
	Files []string
}

// ParseDump parses the output of `nginx -T`: a sequence of
// "# configuration file NAME:" headers each followed by that file's text.
// include directives are replaced by the directives of the dumped files
// their pattern matches. The parser is tolerant: a syntax error ends the
// file where it happens, an unbalanced "}" is ignored, and what was parsed
// so far is kept, because a diagnosis is better with most of a config than
// with none. It returns an error only when no file header was found.
func ParseDump(dump string) (*Config, error) {
	files := splitDump(dump)
	if len(files) == 0 {
		return nil, fmt.Errorf("nginx -T printed no \"# configuration file\" section")
	}
	cfg := &Config{}
	parsed := map[string][]*Directive{}
	for _, f := range files {
		cfg.Files = append(cfg.Files, f.name)
		parsed[f.name] = parseFile(f.name, f.text)
	}
	base := path.Dir(files[0].name)
	budget := maxDirectives
	cfg.Main = expandIncludes(parsed[files[0].name], parsed, cfg.Files, base, 0, &budget)
	return cfg, nil
}

type dumpFile struct{ name, text string }

const dumpHeader = "# configuration file "

func splitDump(dump string) []dumpFile {
	var files []dumpFile
	var cur *dumpFile
	var b strings.Builder
	flush := func() {
		if cur != nil {
			cur.text = b.String()
			files = append(files, *cur)
		}
		b.Reset()
	}
	for line := range strings.Lines(dump) {
		t := strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(t, dumpHeader) && strings.HasSuffix(t, ":") && len(t) > len(dumpHeader)+1 {
			flush()
			cur = &dumpFile{name: strings.TrimSuffix(strings.TrimPrefix(t, dumpHeader), ":")}
			continue
		}
		if cur != nil {
			b.WriteString(line)
		}
	}
	flush()
	return files
}

// maxDirectives bounds the expanded tree: includes that include each
// other would otherwise grow it exponentially.
const maxDirectives = 100000

// expandIncludes splices included files in place of include directives.
// The result is a tree: directives with blocks are copied, never shared.
func expandIncludes(ds []*Directive, files map[string][]*Directive, order []string, base string, depth int, budget *int) []*Directive {
	if depth > 16 || *budget <= 0 {
		return nil
	}
	var out []*Directive
	for _, d := range ds {
		*budget--
		if *budget <= 0 {
			break
		}
		if d.Name == "include" && d.Block == nil && len(d.Args) == 1 {
			pat := d.Args[0]
			if !path.IsAbs(pat) {
				pat = path.Join(base, pat)
			}
			for _, name := range order {
				if ok, _ := path.Match(pat, name); ok {
					out = append(out, expandIncludes(files[name], files, order, base, depth+1, budget)...)
				}
			}
			continue
		}
		if d.Block != nil {
			// A copy: a file included twice (or into itself) must not
			// share, or loop, its nodes.
			c := *d
			c.Block = expandIncludes(d.Block, files, order, base, depth+1, budget)
			if c.Block == nil {
				c.Block = []*Directive{}
			}
			d = &c
		}
		out = append(out, d)
	}
	return out
}

// token is a word, a quoted string, or one of ";", "{", "}".
type token struct {
	text   string
	quoted bool
	line   int
}

// tokenize splits nginx configuration text into tokens. Comments run
// from an unquoted # to the end of the line; quotes may be single or
// double with backslash escapes; ${var} keeps its braces inside a word.
func tokenize(src string) []token {
	var toks []token
	line := 1
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == ';' || c == '{' || c == '}':
			toks = append(toks, token{text: string(c), line: line})
			i++
		case c == '"' || c == '\'':
			start := line
			var b strings.Builder
			i++
			for i < len(src) && src[i] != c {
				if src[i] == '\\' && i+1 < len(src) {
					i++
				}
				if src[i] == '\n' {
					line++
				}
				b.WriteByte(src[i])
				i++
			}
			i++ // closing quote (or past the end)
			toks = append(toks, token{text: b.String(), quoted: true, line: start})
		default:
			var b strings.Builder
			for i < len(src) {
				c := src[i]
				if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';' {
					break
				}
				if c == '{' || c == '}' {
					// "${var}" keeps its braces; any other brace ends the word.
					if c == '{' && strings.HasSuffix(b.String(), "$") {
						for i < len(src) && src[i] != '}' && src[i] != '\n' {
							b.WriteByte(src[i])
							i++
						}
						if i < len(src) && src[i] == '}' {
							b.WriteByte('}')
							i++
						}
						continue
					}
					break
				}
				if c == '\\' && i+1 < len(src) {
					b.WriteByte(c)
					i++
					c = src[i]
				}
				b.WriteByte(c)
				i++
			}
			toks = append(toks, token{text: b.String(), line: line})
		}
	}
	return toks
}

// parseFile builds the directive tree of one file.
func parseFile(file, src string) []*Directive {
	toks := tokenize(src)
	pos := 0
	var parse func(depth int) []*Directive
	parse = func(depth int) []*Directive {
		var out []*Directive
		var cur *Directive
		for pos < len(toks) {
			t := toks[pos]
			pos++
			if !t.quoted {
				switch t.text {
				case ";":
					if cur != nil {
						out = append(out, cur)
						cur = nil
					}
					continue
				case "{":
					if cur == nil {
						cur = &Directive{File: file, Line: t.line}
					}
					if depth < 64 {
						cur.Block = parse(depth + 1)
					}
					if cur.Block == nil {
						cur.Block = []*Directive{}
					}
					out = append(out, cur)
					cur = nil
					continue
				case "}":
					if cur != nil {
						out = append(out, cur) // a directive missing its ";"
					}
					if depth > 0 {
						return out
					}
					cur = nil
					continue
				}
			}
			if cur == nil {
				cur = &Directive{Name: t.text, File: file, Line: t.line}
			} else {
				cur.Args = append(cur.Args, t.text)
			}
		}
		if cur != nil {
			out = append(out, cur)
		}
		return out
	}
	return parse(0)
}

// Find returns the directives named name in ds, not descending.
func Find(ds []*Directive, name string) []*Directive {
	var out []*Directive
	for _, d := range ds {
		if d.Name == name {
			out = append(out, d)
		}
	}
	return out
}

// Arg returns d's i-th argument, or "" when it has fewer (or d is nil).
func (d *Directive) Arg(i int) string {
	if d == nil || i >= len(d.Args) {
		return ""
	}
	return d.Args[i]
}

// Where names d's position for messages: "FILE:LINE".
func (d *Directive) Where() string { return d.File + ":" + strconv.Itoa(d.Line) }

// String is the directive as it could be written back, without its block:
// "proxy_set_header X-Id $request_id". Arguments holding spaces, quotes,
// ";" or braces are double-quoted.
func (d *Directive) String() string {
	var b strings.Builder
	b.WriteString(d.Name)
	for _, a := range d.Args {
		b.WriteByte(' ')
		if needsQuote(a) {
			b.WriteString(strconv.Quote(a))
		} else {
			b.WriteString(a)
		}
	}
	return b.String()
}

// needsQuote reports whether a word must be quoted to read back as one
// argument; "${var}" keeps its braces unquoted, as the tokenizer reads it.
func needsQuote(a string) bool {
	if a == "" {
		return true
	}
	for {
		i := strings.Index(a, "${")
		if i < 0 {
			break
		}
		j := strings.IndexByte(a[i:], '}')
		if j < 0 {
			break
		}
		a = a[:i] + a[i+j+1:]
	}
	return strings.ContainsAny(a, " \t\r\n;{}\"'#")
}
