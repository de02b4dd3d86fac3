package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// textHandler writes log records for people: "15:04:05 WARN message
// key=value …", the level coloured on a terminal. Machines get slog's JSON
// handler instead.
type textHandler struct {
	mu    *sync.Mutex
	w     io.Writer
	level slog.Leveler
	color bool
	attrs string // pre-formatted " key=value" of WithAttrs
	group string // prefix of WithGroup
}

func newTextHandler(w io.Writer, level slog.Leveler, color bool) *textHandler {
	return &textHandler{mu: &sync.Mutex{}, w: w, level: level, color: color}
}

func (h *textHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *textHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	b.WriteString(t.Format("15:04:05 "))
	lvl := r.Level.String()
	if h.color {
		switch {
		case r.Level >= slog.LevelError:
			lvl = "\x1b[31;1m" + lvl + "\x1b[0m"
		case r.Level >= slog.LevelWarn:
			lvl = "\x1b[33m" + lvl + "\x1b[0m"
		default:
			lvl = "\x1b[2m" + lvl + "\x1b[0m"
		}
	}
	b.WriteString(lvl)
	b.WriteByte(' ')
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		writeAttr(&b, h.group, a)
		return true
	})
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *textHandler) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	for _, a := range as {
		writeAttr(&b, h.group, a)
	}
	n := *h
	n.attrs += b.String()
	return &n
}

func (h *textHandler) WithGroup(name string) slog.Handler {
	n := *h
	n.group += name + "."
	return &n
}

// writeAttr appends " key=value", quoting values with spaces.
func writeAttr(b *strings.Builder, group string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		for _, g := range a.Value.Group() {
			writeAttr(b, group+a.Key+".", g)
		}
		return
	}
	v := a.Value.String()
	if a.Value.Kind() == slog.KindTime {
		v = a.Value.Time().Format(time.RFC3339)
	}
	if v == "" || strings.ContainsAny(v, " \t\n\"=") {
		v = strconv.Quote(v)
	}
	fmt.Fprintf(b, " %s%s=%s", group, a.Key, v)
}
