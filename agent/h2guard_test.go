package agent

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// guardOver runs raw through an h2Guard and returns what the server would
// read and the error that ended it.
func guardOver(t *testing.T, raw []byte) ([]byte, error) {
	t.Helper()
	a, b := net.Pipe()
	go func() { _, _ = a.Write(raw); _ = a.Close() }()
	g := &h2Guard{Conn: b, preface: len(h2Preface)}
	g.dec = hpack.NewDecoder(4096, g.field)
	var out bytes.Buffer
	buf := make([]byte, 7) // small reads: frames cross read boundaries
	for {
		n, err := g.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return out.Bytes(), err
		}
	}
}

func frames(t *testing.T, write func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer)) []byte {
	t.Helper()
	var w bytes.Buffer
	w.WriteString(h2Preface)
	fr := http2.NewFramer(&w, nil)
	var hb bytes.Buffer
	write(fr, hpack.NewEncoder(&hb), &hb)
	return w.Bytes()
}

func headers(t *testing.T, fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer, stream uint32, fields ...string) {
	t.Helper()
	hb.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		_ = enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: hb.Bytes(), EndHeaders: true, EndStream: true}); err != nil {
		t.Fatal(err)
	}
}

var request = []string{":method", "GET", ":scheme", "https", ":path", "/", ":authority", "a.test"}

func TestH2GuardPassesCleanFrames(t *testing.T) {
	raw := frames(t, func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
		_ = fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1000})
		headers(t, fr, enc, hb, 1, append(request, "te", "trailers")...)
		_ = fr.WriteData(1, true, []byte("hello"))
	})
	got, err := guardOver(t, raw)
	if err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("guard changed clean frames (err %v):\n%q\n%q", err, got, raw)
	}
}

func TestH2GuardRefusesConnectionSpecificFields(t *testing.T) {
	for _, f := range [][]string{{"connection", "keep-alive"}, {"transfer-encoding", "chunked"}, {"upgrade", "h2c"},
		{"keep-alive", "5"}, {"proxy-connection", "x"}, {"te", "gzip"}} {
		raw := frames(t, func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
			headers(t, fr, enc, hb, 1, request...)
			headers(t, fr, enc, hb, 3, append(request, f...)...)
		})
		_, err := guardOver(t, raw)
		if !errors.Is(err, errH2Malformed) {
			t.Errorf("%s: %s passed the guard (err %v)", f[0], f[1], err)
		}
	}
}

func TestH2GuardDedupesSettings(t *testing.T) {
	raw := frames(t, func(fr *http2.Framer, _ *hpack.Encoder, _ *bytes.Buffer) {
		_ = fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100},
			http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 5},
			http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
	})
	got, err := guardOver(t, raw)
	if err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(nil, bytes.NewReader(got[len(h2Preface):]))
	f, err := fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	sf := f.(*http2.SettingsFrame)
	if sf.HasDuplicates() || sf.NumSettings() != 2 {
		t.Fatalf("settings after the guard: %v", sf)
	}
	if v, _ := sf.Value(http2.SettingInitialWindowSize); v != 1 {
		t.Errorf("INITIAL_WINDOW_SIZE = %d, want the last value 1", v)
	}
}
