package proxy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/syncbuf"
)

func TestAccessLogLine(t *testing.T) {
	backup := startBackend(t, "127.0.0.1:0", nil)
	var out syncbuf.Buffer
	log := NewAccessLog(&out)
	p := startProxy(t, pool([]string{refusedAddr(t, 6), backup.addr + " backup"}, "max_fails: 0"), func(h *Handler) { h.Log = log })
	st, _ := get(t, client(), p.url(`/a%22b?q="x"`))
	if st != 200 {
		t.Fatalf("status %d", st)
	}
	// The line is written after the response is relayed and flushed
	// every 100 ms: wait for it, then stop the writer.
	eventually(t, 2*time.Second, "the log line", func() bool { return strings.Contains(out.String(), "\n") })
	log.Close()
	var line struct {
		Time       string  `json:"time"`
		Remote     string  `json:"remote"`
		Method     string  `json:"method"`
		Path       string  `json:"path"`
		Status     int     `json:"status"`
		Route      string  `json:"route"`
		Upstream   string  `json:"upstream"`
		Attempts   int     `json:"attempts"`
		DurationMS float64 `json:"duration_ms"`
		Error      string  `json:"error"`
	}
	first := strings.SplitN(out.String(), "\n", 2)[0]
	if err := json.Unmarshal([]byte(first), &line); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, first)
	}
	if _, err := time.Parse(time.RFC3339Nano, line.Time); err != nil {
		t.Errorf("time %q: %v", line.Time, err)
	}
	if line.Status != 200 || line.Attempts != 2 || line.Upstream != backup.addr || line.Method != "GET" ||
		line.Path != `/a%22b?q="x"` || line.Remote != "127.0.0.1" || line.Route != "*/" || !strings.Contains(line.Error, "connect") {
		t.Fatalf("log line %+v\n%s", line, first)
	}
}

// blockedWriter never returns until released.
type blockedWriter struct{ release chan struct{} }

func (w blockedWriter) Write(p []byte) (int, error) { <-w.release; return len(p), nil }

// TestAccessLogBounded: a writer that blocks does not make the buffer grow
// without bound; dropped lines are counted and reported.
func TestAccessLogBounded(t *testing.T) {
	w := blockedWriter{release: make(chan struct{})}
	l := NewAccessLog(w)
	var scratch []byte
	e := entry{start: time.Now(), remote: "198.18.0.1", method: []byte("GET"), host: []byte("a"), target: []byte("/" + strings.Repeat("x", 200)), status: 200}
	for i := 0; i < 100000; i++ { // ~30 MB of lines
		l.write(&e, &scratch)
	}
	l.mu.Lock()
	size, dropped := len(l.buf)+len(l.spare), l.dropped
	l.mu.Unlock()
	if size > 2*maxLogBuffer || dropped == 0 {
		t.Errorf("buffered %d bytes, dropped %d lines; want at most %d and some dropped", size, dropped, 2*maxLogBuffer)
	}
	close(w.release)
	l.Close()
}
