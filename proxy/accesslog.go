package proxy

import (
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// AccessLog writes one JSON object per request. Lines are appended to a
// buffer and written out by a background goroutine every 100 ms or when the
// buffer passes 64 KiB, so logging never blocks a request on a write. A
// writer that falls behind (a full disk, a stalled pipe) cannot make the
// buffer grow past maxLogBuffer: lines beyond it are dropped and counted,
// and the count is logged once the writer catches up.
type AccessLog struct {
	mu      sync.Mutex
	buf     []byte
	spare   []byte
	dropped int64 // lines dropped since the last flush
	w       io.Writer
	kick    chan struct{}
	done    chan struct{}
	closed  bool

	timeCache atomic.Pointer[timePrefix]
}

// timePrefix is "2006-01-02T15:04:05." for one second.
type timePrefix struct {
	sec int64
	buf []byte
}

// NewAccessLog starts a log writing to w.
func NewAccessLog(w io.Writer) *AccessLog {
	l := &AccessLog{w: w, kick: make(chan struct{}, 1), done: make(chan struct{})}
	go l.run()
	return l
}

// entry is one request's record.
type entry struct {
	start    time.Time
	remote   string
	method   []byte
	host     []byte
	target   []byte
	status   int
	route    string
	upstream string
	attempts int
	err      string
}

// write formats e into scratch (the connection's own buffer, so formatting
// happens outside the lock) and appends the line to the log buffer.
func (l *AccessLog) write(e *entry, scratch *[]byte) {
	if l == nil {
		return
	}
	d := time.Since(e.start)
	b := (*scratch)[:0]
	b = append(b, `{"time":"`...)
	b = l.appendTime(b, e.start)
	b = append(b, `","remote":`...)
	b = appendJSONString(b, e.remote)
	b = append(b, `,"method":`...)
	b = appendJSONBytes(b, e.method)
	b = append(b, `,"host":`...)
	b = appendJSONBytes(b, e.host)
	b = append(b, `,"path":`...)
	b = appendJSONBytes(b, e.target)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, `,"route":`...)
	b = appendJSONString(b, e.route)
	b = append(b, `,"upstream":`...)
	b = appendJSONString(b, e.upstream)
	b = append(b, `,"attempts":`...)
	b = strconv.AppendInt(b, int64(e.attempts), 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(d.Microseconds())/1000, 'f', 3, 64)
	if e.err != "" {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, e.err)
	}
	b = append(b, "}\n"...)
	*scratch = b
	l.mu.Lock()
	if len(l.buf)+len(b) > maxLogBuffer {
		l.dropped++
		l.mu.Unlock()
		return
	}
	l.buf = append(l.buf, b...)
	big := len(l.buf) > 64<<10
	l.mu.Unlock()
	if big {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// appendTime writes t as RFC 3339 UTC with milliseconds, formatting the
// date part once per second.
func (l *AccessLog) appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	tp := l.timeCache.Load()
	if sec := t.Unix(); tp == nil || tp.sec != sec {
		tp = &timePrefix{sec: sec, buf: t.AppendFormat(nil, "2006-01-02T15:04:05.")}
		l.timeCache.Store(tp)
	}
	b = append(b, tp.buf...)
	ms := t.Nanosecond() / 1e6
	b = append(b, byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
	return b
}

func (l *AccessLog) run() {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-l.kick:
		case <-l.done:
			l.flush()
			return
		}
		l.flush()
	}
}

// maxLogBuffer bounds the access log lines waiting for the writer.
const maxLogBuffer = 4 << 20

func (l *AccessLog) flush() {
	l.mu.Lock()
	b := l.buf
	l.buf = l.spare[:0]
	if l.dropped > 0 {
		b = append(b, `{"time":"`...)
		b = l.appendTime(b, time.Now())
		b = append(b, `","warning":"access log writer too slow","dropped_lines":`...)
		b = strconv.AppendInt(b, l.dropped, 10)
		b = append(b, "}\n"...)
		l.dropped = 0
	}
	l.mu.Unlock()
	if len(b) > 0 {
		_, _ = l.w.Write(b)
	}
	l.mu.Lock()
	l.spare = b[:0]
	l.mu.Unlock()
}

// Close writes what is buffered and stops the writer.
func (l *AccessLog) Close() {
	if l == nil {
		return
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.mu.Unlock()
	close(l.done)
}

const hexDigits = "0123456789abcdef"

func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

func appendJSONBytes(b []byte, s []byte) []byte {
	// Fast path: printable ASCII without escapes.
	for _, c := range s {
		if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return appendJSONString(b, string(s))
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
