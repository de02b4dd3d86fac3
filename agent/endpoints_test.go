package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgectl/edgectl/agentconfig"
	"github.com/edgectl/edgectl/endpoints"
	"github.com/edgectl/edgectl/internal/syncbuf"
	"github.com/edgectl/edgectl/proxy"
)

const (
	endpointsV1 = `# the production list
DomainList:
log.ym1.com
ym2.xyz, ym3.net
IPList:
12.34.56.78
2001:db8::7
`
	endpointsV2 = `DomainList:
backup.example.net
IPList:
198.51.100.9
`
	// endpointsBad has an invalid hostname on line 3.
	endpointsBad = `DomainList:
log.ym1.com
not_a_host!
IPList:
12.34.56.78
`
	endpointsPath = "/api/v1/config/endpoints"
	// watchInterval is the poll interval of the watch tests.
	watchInterval = 50 * time.Millisecond
)

func testEndpointsConfig(file string) agentconfig.Endpoints {
	return agentconfig.Endpoints{
		File: file, Path: endpointsPath,
		Protocol: "https", APIPath: "/api/v1", SocketPath: "/socket.io", DefaultPort: 8443,
	}
}

// renderedEndpoints is what `edgectl endpoints render` prints for the
// content with cfg's options: what the agent must serve.
func renderedEndpoints(t testing.TB, cfg agentconfig.Endpoints, content string) []byte {
	t.Helper()
	l, err := endpoints.Parse("test", strings.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	b, err := endpoints.Render(l, endpoints.Options{
		Protocol: cfg.Protocol, APIPath: cfg.APIPath, SocketPath: cfg.SocketPath, DefaultPort: cfg.DefaultPort,
	}).JSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// replaceFile writes content next to name and renames it over name, as
// editors and config management do.
func replaceFile(t testing.TB, name, content string) {
	t.Helper()
	tmp := name + ".tmp"
	writeTestFile(t, tmp, content)
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}

// getEndpoints serves one request; like the proxy, its Header takes a
// lower-case name.
func getEndpoints(s *endpointsService, method, ifNoneMatch string) *proxy.LocalResponse {
	return s.serve(&proxy.LocalRequest{
		Method: []byte(method),
		Path:   []byte(endpointsPath),
		Header: func(name string) []byte {
			if name == "if-none-match" && ifNoneMatch != "" {
				return []byte(ifNoneMatch)
			}
			return nil
		},
	})
}

func TestEndpointsServe(t *testing.T) {
	file := filepath.Join(t.TempDir(), "endpoints.txt")
	writeTestFile(t, file, endpointsV1)
	cfg := testEndpointsConfig(file)
	s := newEndpointsService(cfg, nil)
	if err := s.load(); err != nil {
		t.Fatal(err)
	}
	want := renderedEndpoints(t, cfg, endpointsV1)
	etag := s.status().ETag
	if len(etag) < 3 || etag[0] != '"' || etag[len(etag)-1] != '"' || strings.HasPrefix(etag, "W/") {
		t.Fatalf("ETag %q is not a quoted strong entity tag", etag)
	}

	tests := []struct {
		name        string
		method      string
		path        string
		ifNoneMatch string
		status      int // 0: not handled (nil)
	}{
		{name: "GET", method: "GET", status: 200},
		{name: "HEAD", method: "HEAD", status: 200},
		{name: "matching ETag", method: "GET", ifNoneMatch: etag, status: 304},
		{name: "matching ETag HEAD", method: "HEAD", ifNoneMatch: etag, status: 304},
		{name: "ETag in a list", method: "GET", ifNoneMatch: `"0123", ` + etag + `, "4567"`, status: 304},
		{name: "star", method: "GET", ifNoneMatch: "*", status: 304},
		{name: "weak form of the ETag", method: "GET", ifNoneMatch: "W/" + etag, status: 304},
		{name: "other ETag", method: "GET", ifNoneMatch: `"0123456789abcdef"`, status: 200},
		{name: "unquoted ETag", method: "GET", ifNoneMatch: strings.Trim(etag, `"`), status: 200},
		{name: "POST is routed", method: "POST"},
		{name: "other path", method: "GET", path: "/api/v1/config"},
		{name: "trailing slash", method: "GET", path: endpointsPath + "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = endpointsPath
			}
			resp := s.serve(&proxy.LocalRequest{
				Method: []byte(tt.method),
				Path:   []byte(path),
				Header: func(name string) []byte {
					if name == "if-none-match" && tt.ifNoneMatch != "" {
						return []byte(tt.ifNoneMatch)
					}
					return nil
				},
			})
			if tt.status == 0 {
				if resp != nil {
					t.Fatalf("serve = %d, want nil (routed)", resp.Status)
				}
				return
			}
			if resp == nil || resp.Status != tt.status {
				t.Fatalf("serve = %+v, want status %d", resp, tt.status)
			}
			if got := headerValue(resp.Header, "ETag"); got != etag {
				t.Errorf("ETag = %q, want %q", got, etag)
			}
			if got := headerValue(resp.Header, "Cache-Control"); got != "public, max-age=60" {
				t.Errorf("Cache-Control = %q, want public, max-age=60", got)
			}
			switch tt.status {
			case 200:
				if !bytes.Equal(resp.Body, want) {
					t.Errorf("body:\n%s\nwant (endpoints.Render):\n%s", resp.Body, want)
				}
				if got := headerValue(resp.Header, "Content-Type"); got != "application/json" {
					t.Errorf("Content-Type = %q, want application/json", got)
				}
			case 304:
				if len(resp.Body) != 0 {
					t.Errorf("304 has a body: %q", resp.Body)
				}
			}
		})
	}
}

// Over a real connection: HEAD and 304 carry no body, HEAD still announces
// the list's length.
func TestEndpointsOverHTTP(t *testing.T) {
	file := filepath.Join(t.TempDir(), "endpoints.txt")
	writeTestFile(t, file, endpointsV1)
	cfg := testEndpointsConfig(file)
	s := newEndpointsService(cfg, nil)
	if err := s.load(); err != nil {
		t.Fatal(err)
	}
	want := string(renderedEndpoints(t, cfg, endpointsV1))
	etag := s.status().ETag
	base := serveLocalForTest(t, s.serve)
	tests := []struct {
		name        string
		method      string
		ifNoneMatch string
		status      int
		body        string
		length      int64
	}{
		{name: "GET", method: "GET", status: 200, body: want, length: int64(len(want))},
		{name: "HEAD", method: "HEAD", status: 200, body: "", length: int64(len(want))},
		{name: "revalidate", method: "GET", ifNoneMatch: etag, status: 304, body: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := http.Header{}
			if tt.ifNoneMatch != "" {
				hdr.Set("If-None-Match", tt.ifNoneMatch)
			}
			resp, body := doTestRequest(t, tt.method, base+endpointsPath, hdr)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d (%s)", resp.StatusCode, tt.status, body)
			}
			if body != tt.body {
				t.Errorf("body = %q, want %q", body, tt.body)
			}
			if tt.status == 200 && resp.ContentLength != tt.length {
				t.Errorf("Content-Length = %d, want %d", resp.ContentLength, tt.length)
			}
			if got := resp.Header.Get("ETag"); got != etag {
				t.Errorf("ETag = %q, want %q", got, etag)
			}
		})
	}
}

func TestEndpointsETag(t *testing.T) {
	file := filepath.Join(t.TempDir(), "endpoints.txt")
	writeTestFile(t, file, endpointsV1)
	s := newEndpointsService(testEndpointsConfig(file), nil)
	if err := s.load(); err != nil {
		t.Fatal(err)
	}
	first := s.status().ETag
	steps := []struct {
		name    string
		content string // written with replaceFile; "" reloads as is
		same    bool   // the ETag must equal the first one
	}{
		{name: "reload unchanged", same: true},
		{name: "same content, new file", content: endpointsV1, same: true},
		{name: "comment only change", content: "# edited\n" + endpointsV1, same: true},
		{name: "new list", content: endpointsV2, same: false},
		{name: "back to the first list", content: endpointsV1, same: true},
	}
	for _, st := range steps {
		if st.content != "" {
			replaceFile(t, file, st.content)
		}
		if err := s.load(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got := s.status().ETag
		if st.same && got != first {
			t.Errorf("%s: ETag %s, want it unchanged (%s)", st.name, got, first)
		}
		if !st.same && got == first {
			t.Errorf("%s: ETag %s unchanged, want a new one", st.name, got)
		}
		resp := getEndpoints(s, "GET", first)
		if wantStatus := map[bool]int{true: 304, false: 200}[st.same]; resp.Status != wantStatus {
			t.Errorf("%s: If-None-Match with the first ETag = %d, want %d", st.name, resp.Status, wantStatus)
		}
	}
}

func TestEndpointsWatchReloads(t *testing.T) {
	file := filepath.Join(t.TempDir(), "endpoints.txt")
	writeTestFile(t, file, endpointsV1)
	cfg := testEndpointsConfig(file)
	s := newEndpointsService(cfg, nil)
	if err := s.load(); err != nil {
		t.Fatal(err)
	}
	startWatch(t, s)
	v1 := renderedEndpoints(t, cfg, endpointsV1)
	v2 := renderedEndpoints(t, cfg, endpointsV2)
	if got := getEndpoints(s, "GET", "").Body; !bytes.Equal(got, v1) {
		t.Fatalf("before the change: %s", got)
	}
	loaded := s.status().Loaded

	replaceFile(t, file, endpointsV2)
	took := waitForEndpoints(t, "the new list", func() bool {
		return bytes.Equal(getEndpoints(s, "GET", "").Body, v2)
	})
	if took > 2*watchInterval {
		t.Errorf("the change took %v to be served, want at most 2 intervals (%v)", took, 2*watchInterval)
	}
	st := s.status()
	if st.Domains != 1 || st.IPs != 1 || st.Error != "" || !st.Loaded.After(loaded) {
		t.Errorf("status after reload = %+v, want 1 domain, 1 IP, no error, loaded after %v", st, loaded)
	}
}

// A bad change never takes the list down: the last good list is served,
// status says what is wrong with the file, the log says it once, and the
// next good change is picked up.
func TestEndpointsBadChangeKeepsList(t *testing.T) {
	tests := []struct {
		name    string
		change  func(t *testing.T, file string)
		wantErr string // in status().Error, after the file name
	}{
		{
			name:    "invalid line",
			change:  func(t *testing.T, file string) { replaceFile(t, file, endpointsBad) },
			wantErr: ":3:",
		},
		{
			name:    "file removed",
			change:  func(t *testing.T, file string) { _ = os.Remove(file) },
			wantErr: ": no such file or directory",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "endpoints.txt")
			writeTestFile(t, file, endpointsV1)
			cfg := testEndpointsConfig(file)
			var logs syncbuf.Buffer
			s := newEndpointsService(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			if err := s.load(); err != nil {
				t.Fatal(err)
			}
			good := s.status()
			startWatch(t, s)

			tt.change(t, file)
			waitForEndpoints(t, "the error in status", func() bool { return s.status().Error != "" })
			st := s.status()
			if !strings.Contains(st.Error, file+tt.wantErr) {
				t.Errorf("status().Error = %q, want it to contain %q", st.Error, file+tt.wantErr)
			}
			if st.ETag != good.ETag || st.Domains != 3 || st.IPs != 2 || !st.Loaded.Equal(good.Loaded) {
				t.Errorf("status = %+v, want the previous list's (%+v)", st, good)
			}
			resp := getEndpoints(s, "GET", "")
			if resp.Status != 200 || !bytes.Equal(resp.Body, renderedEndpoints(t, cfg, endpointsV1)) {
				t.Errorf("serve = %d %s, want the previous list", resp.Status, resp.Body)
			}

			time.Sleep(5 * watchInterval)
			if n := strings.Count(logs.String(), "level=ERROR"); n != 1 {
				t.Errorf("%d error lines for one bad change, want 1:\n%s", n, logs.String())
			}

			replaceFile(t, file, endpointsV2)
			waitForEndpoints(t, "the fixed file", func() bool { return s.status().Error == "" })
			if got := getEndpoints(s, "GET", "").Body; !bytes.Equal(got, renderedEndpoints(t, cfg, endpointsV2)) {
				t.Errorf("after the fix: %s", got)
			}
			waitForEndpoints(t, "the fix to be logged", func() bool {
				return strings.Contains(logs.String(), "endpoints list loaded")
			})
			if n := strings.Count(logs.String(), "level=ERROR"); n != 1 {
				t.Errorf("%d error lines after the fix, want still 1:\n%s", n, logs.String())
			}
		})
	}
}

func TestEndpointsMissingFileThenAppears(t *testing.T) {
	file := filepath.Join(t.TempDir(), "endpoints.txt")
	cfg := testEndpointsConfig(file)
	s := newEndpointsService(cfg, nil)
	err := s.load()
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("load() = %v, want a not-exist error", err)
	}
	startWatch(t, s)

	for _, method := range []string{"GET", "HEAD"} {
		resp := getEndpoints(s, method, "*")
		if resp == nil || resp.Status != 503 {
			t.Fatalf("%s before the file exists = %+v, want 503", method, resp)
		}
		if got := headerValue(resp.Header, "Content-Type"); got != "application/json" {
			t.Errorf("Content-Type = %q, want application/json", got)
		}
		var body struct{ Error string }
		if err := json.Unmarshal(resp.Body, &body); err != nil {
			t.Fatalf("503 body %q: %v", resp.Body, err)
		}
		if want := "endpoints file not loaded: open " + file + ": no such file or directory"; body.Error != want {
			t.Errorf("503 error = %q, want %q", body.Error, want)
		}
	}
	if st := s.status(); st.Error == "" || st.ETag != "" || !st.Loaded.IsZero() {
		t.Errorf("status without a file = %+v, want an error and no list", st)
	}

	replaceFile(t, file, endpointsV1)
	waitForEndpoints(t, "the new file", func() bool { return getEndpoints(s, "GET", "").Status == 200 })
	if got := getEndpoints(s, "GET", "").Body; !bytes.Equal(got, renderedEndpoints(t, cfg, endpointsV1)) {
		t.Errorf("after the file appeared: %s", got)
	}
	if st := s.status(); st.Error != "" || st.Domains != 3 || st.IPs != 2 {
		t.Errorf("status = %+v, want 3 domains, 2 IPs, no error", st)
	}
}

// Requests served during reloads always see a whole list: a body with its
// own ETag.
func TestEndpointsConcurrentReloads(t *testing.T) {
	file := filepath.Join(t.TempDir(), "endpoints.txt")
	writeTestFile(t, file, endpointsV1)
	cfg := testEndpointsConfig(file)
	s := newEndpointsService(cfg, nil)
	if err := s.load(); err != nil {
		t.Fatal(err)
	}
	etags := map[string]string{} // body -> ETag
	for _, content := range []string{endpointsV1, endpointsV2} {
		replaceFile(t, file, content)
		if err := s.load(); err != nil {
			t.Fatal(err)
		}
		etags[string(renderedEndpoints(t, cfg, content))] = s.status().ETag
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				resp := getEndpoints(s, "GET", "")
				want, ok := etags[string(resp.Body)]
				if !ok || headerValue(resp.Header, "ETag") != want {
					errs <- string(resp.Body) + " with ETag " + headerValue(resp.Header, "ETag")
					return
				}
				_ = s.status()
			}
		})
	}
	for i := range 50 {
		replaceFile(t, file, []string{endpointsV1, endpointsV2}[i%2])
		if err := s.load(); err != nil {
			t.Error(err)
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("torn response: %s", e)
	}
}

func TestEndpointsInvalidOptions(t *testing.T) {
	file := filepath.Join(t.TempDir(), "endpoints.txt")
	writeTestFile(t, file, endpointsV1)
	cfg := testEndpointsConfig(file)
	cfg.SocketPath = "socket.io"
	s := newEndpointsService(cfg, nil)
	if err := s.load(); err == nil || !strings.Contains(err.Error(), "socket path") {
		t.Fatalf("load() = %v, want the socket path rejected", err)
	}
	if resp := getEndpoints(s, "GET", ""); resp.Status != 503 {
		t.Errorf("serve = %d, want 503", resp.Status)
	}
}

func startWatch(t *testing.T, s *endpointsService) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.watch(ctx, watchInterval)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// waitForEndpoints polls cond for up to 5 s and returns how long it took to
// hold.
func waitForEndpoints(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

// serveLocalForTest runs a real proxy.Handler with no routes and local as
// its LocalFunc on a loopback port, and returns its base URL.
func serveLocalForTest(t *testing.T, local proxy.LocalFunc) string {
	t.Helper()
	table, err := proxy.NewTable(&agentconfig.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := proxy.NewHandler(table)
	h.Local = local
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go h.ServeConn(c, false)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		h.SetDraining(true)
		h.Wait()
	})
	return "http://" + ln.Addr().String()
}

// doTestRequest sends one request on a fresh connection and returns the
// response with its body read.
func doTestRequest(t *testing.T, method, url string, hdr http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}
