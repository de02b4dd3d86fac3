package nginximport

import (
	"strconv"

	"github.com/edgectl/edgectl/nginxconf"
)

// Importance ranks what could not be translated.
type Importance string

const (
	// Important: requests would be answered differently or less safely
	// (paths, access control, rate limits, headers the backend reads).
	Important Importance = "important"
	// Cosmetic: logs, compression, error pages, response headers and the
	// like; requests still reach the same backend with the same result.
	Cosmetic Importance = "cosmetic"
)

// Item is one directive that was not translated.
type Item struct {
	File       string     `json:"file"`
	Line       int        `json:"line"`
	Directive  string     `json:"directive"`
	Importance Importance `json:"importance"`
	// Reason says what the agent does instead, or what to do.
	Reason string `json:"reason"`
}

// Where is "FILE:LINE".
func (i Item) Where() string { return i.File + ":" + strconv.Itoa(i.Line) }

// Note is a remark on something that was translated, or needs nothing.
type Note struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Text string `json:"note"`
}

// Where is "FILE:LINE".
func (n Note) Where() string { return n.File + ":" + strconv.Itoa(n.Line) }

// Certificate is a certificate an nginx TLS server used.
type Certificate struct {
	// Names are the server's names (server_name).
	Names []string `json:"names"`
	Cert  string   `json:"certificate"`
	Key   string   `json:"key"`
	File  string   `json:"file"`
	Line  int      `json:"line"`
}

// Result is a translation.
type Result struct {
	// YAML is agent.yaml: a header comment listing what was not
	// translated and the notes, then the configuration.
	YAML []byte `json:"-"`
	// Untranslated lists what was dropped, in file order.
	Untranslated []Item `json:"untranslated"`
	// Notes are remarks on what was translated.
	Notes []Note `json:"notes"`
	// Certificates are the TLS servers' certificate files.
	Certificates []Certificate `json:"certificates"`
	// Files are the configuration files nginx -T printed.
	Files []string `json:"files"`
}

// Count returns how many items of importance imp were dropped.
func (r *Result) Count(imp Importance) int {
	n := 0
	for _, it := range r.Untranslated {
		if it.Importance == imp {
			n++
		}
	}
	return n
}

// report collects items and notes, each directive once (a file included
// in several places shares its lines).
type report struct {
	items []Item
	notes []Note
	seen  map[string]bool
}

func (r *report) drop(d *nginxconf.Directive, imp Importance, reason string) {
	key := d.Where() + " " + d.Name + " " + reason
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	if r.seen[key] {
		return
	}
	r.seen[key] = true
	r.items = append(r.items, Item{File: d.File, Line: d.Line, Directive: d.String(), Importance: imp, Reason: reason})
}

func (r *report) note(d *nginxconf.Directive, text string) {
	key := d.Where() + " note " + text
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	if r.seen[key] {
		return
	}
	r.seen[key] = true
	r.notes = append(r.notes, Note{File: d.File, Line: d.Line, Text: text})
}
