package agent_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/edgectl/edgectl/internal/buildtest"
	"github.com/edgectl/edgectl/internal/syncbuf"
)

// Lifecycle tests under load: the real agent binary, a backend on loopback
// and internal/loadgen as a separate process holding 64 keepalive
// connections. A drain, a reload or a binary upgrade must not fail a single
// request the agent accepted.

const loadConns = 64

// loadgenBinary builds internal/loadgen once per test process.
func loadgenBinary(t testing.TB) string { return buildtest.Binary(t, "./internal/loadgen", "test") }

// loadSummary is loadgen's JSON report.
type loadSummary struct {
	Requests int64            `json:"requests"`
	OK       int64            `json:"ok"`
	Failed   int64            `json:"failed"`
	ByKind   map[string]int64 `json:"by_kind"`
	Connects int64            `json:"connects"`
	Elapsed  float64          `json:"elapsed_s"`
	RPS      float64          `json:"rps"`
	P50ms    float64          `json:"p50_ms"`
	P99ms    float64          `json:"p99_ms"`
	MaxMs    float64          `json:"max_ms"`
	Errors   []string         `json:"errors"`
}

func (s loadSummary) String() string {
	kinds := make([]string, 0, len(s.ByKind))
	for k, n := range s.ByKind {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(kinds)
	return fmt.Sprintf("%d requests in %.2fs (%.0f rps) on %d connections: %d ok, %d failed; by kind [%s]; p50 %.2fms p99 %.2fms max %.2fms",
		s.Requests, s.Elapsed, s.RPS, s.Connects, s.OK, s.Failed, strings.Join(kinds, " "), s.P50ms, s.P99ms, s.MaxMs)
}

// loadRun is a running loadgen process.
type loadRun struct {
	p   *proc
	out string
}

// startLoad runs loadgen against url with loadConns connections until
// stop is called.
func startLoad(t testing.TB, url string, conns int) *loadRun {
	t.Helper()
	out := filepath.Join(t.TempDir(), "load.json")
	cmd := exec.Command(loadgenBinary(t), "-url", url, "-conns", strconv.Itoa(conns), "-duration", "60s", "-out", out)
	return &loadRun{p: start(t, cmd), out: out}
}

// stop ends the load with SIGTERM and returns the summary.
func (l *loadRun) stop(t testing.TB) loadSummary {
	t.Helper()
	if err := l.p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("stop loadgen: %v", err)
	}
	if code := l.p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("loadgen exited %d: %s", code, l.p.stderr)
	}
	b, err := os.ReadFile(l.out)
	if err != nil {
		t.Fatal(err)
	}
	var s loadSummary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("loadgen summary %q: %v", b, err)
	}
	return s
}

// requireNoFailures fails the test unless every request loadgen wrote got
// a 2xx and the only errors are of the allowed kinds.
func requireNoFailures(t testing.TB, what string, s loadSummary, allowed ...string) {
	t.Helper()
	if s.OK == 0 {
		t.Errorf("%s: no request succeeded: %s", what, s)
	}
	if s.Failed != 0 {
		t.Errorf("%s: %d requests failed, want 0", what, s.Failed)
	}
	for k, n := range s.ByKind {
		if n > 0 && !slices.Contains(allowed, k) {
			t.Errorf("%s: %d errors of kind %s, want none", what, n, k)
		}
	}
	if t.Failed() && len(s.Errors) > 0 {
		t.Logf("%s: first errors:\n  %s", what, strings.Join(s.Errors, "\n  "))
	}
}

// serveBackend serves h on a fresh loopback port until the test ends.
func serveBackend(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// adminStatus is the part of GET /status these tests read.
type adminStatus struct {
	PID         int    `json:"pid"`
	Reloads     uint64 `json:"reloads"`
	ReloadError string `json:"reload_error"`
}

func getStatus(t testing.TB, admin *http.Client) adminStatus {
	t.Helper()
	code, body, _, err := get(admin, "http://agent/status")
	if err != nil || code != 200 {
		t.Fatalf("GET /status: %d %q %v", code, body, err)
	}
	var st adminStatus
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("/status %q: %v", body, err)
	}
	return st
}

// adminAnswer is the JSON answer of POST /reload and POST /upgrade.
type adminAnswer struct {
	Status  string `json:"status"`
	Error   string `json:"error"`
	Reloads uint64 `json:"reloads"`
	OldPID  int    `json:"old_pid"`
}

func postAdmin(t testing.TB, admin *http.Client, path string) (int, adminAnswer) {
	t.Helper()
	resp, err := admin.Post("http://agent"+path, "", nil)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	var a adminAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("POST %s answered %d %q: %v", path, resp.StatusCode, body, err)
	}
	return resp.StatusCode, a
}

// swapFile replaces name atomically (write next to it, then rename), as
// config management and package managers do.
func swapFile(t testing.TB, name string, content []byte, mode os.FileMode) {
	t.Helper()
	tmp := name + ".new"
	if err := os.WriteFile(tmp, content, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}

func TestSIGTERMUnderLoad(t *testing.T) {
	const delay, timeout, slow = time.Second, 10 * time.Second, 3 * time.Second
	mux := http.NewServeMux()
	mux.Handle("/", &backend{name: "fast"})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(slow)
		_, _ = io.WriteString(w, "slow done")
	})
	baddr := serveBackend(t, mux)
	port := freePort(t, "127.0.0.1")
	cfg := writeFile(t, "agent.yaml", agentYAML{
		listen:  []string{"127.0.0.1:" + port},
		delay:   delay,
		timeout: timeout,
		servers: []server{{addr: baddr}},
		health:  "{path: /health, interval: 200ms, rise: 1, fall: 1}",
	}.String())
	p := startAgent(t, cfg)
	waitReady(t, p, httpClient(nil), urlFor("127.0.0.1", port, "/health"))

	load := startLoad(t, urlFor("127.0.0.1", port, "/fast"), loadConns)
	began := time.Now()
	type result struct {
		code int
		body string
		err  error
		at   time.Time // when the response was complete
	}
	slowDone := make(chan result, 1)
	go func() {
		c := &http.Client{Timeout: 2 * timeout}
		code, body, _, err := get(c, urlFor("127.0.0.1", port, "/slow"))
		slowDone <- result{code, body, err, time.Now()}
	}()

	time.Sleep(time.Second)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	exit := p.wait(t, delay+timeout+2*time.Second)
	exitAt := time.Now()
	exitAfter := exitAt.Sub(sent)
	time.Sleep(200 * time.Millisecond) // loadgen now meets closed ports
	s := load.stop(t)
	r := <-slowDone

	t.Logf("load: %s", s)
	gap := exitAt.Sub(r.at)
	t.Logf("agent exited %d %s after SIGTERM and %s after the %s request ended (%d %q, %s after it started)",
		exit, exitAfter.Round(time.Millisecond), gap.Round(time.Millisecond), slow, r.code, r.body, r.at.Sub(began).Round(time.Millisecond))
	if exit != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", exit)
	}
	if r.err != nil || r.code != 200 || r.body != "slow done" {
		t.Errorf("the %s request during the drain: %d %q %v, want 200 \"slow done\"", slow, r.code, r.body, r.err)
	}
	// It drained for the delay, waited for the slow request, and exited
	// soon after it (the margin is for a busy machine's scheduling).
	if exitAfter < delay {
		t.Errorf("exited %s after SIGTERM, before the drain delay %s was over", exitAfter, delay)
	}
	if gap < -250*time.Millisecond || gap > time.Second {
		t.Errorf("exited %s after the slow request ended, want just after it", gap)
	}
	requireNoFailures(t, "SIGTERM", s, "connect_refused")
	if s.ByKind["connect_refused"] == 0 {
		t.Errorf("loadgen never saw the listener closed (no connect_refused): the test did not cover the drain")
	}
}

func TestReloadsUnderLoad(t *testing.T) {
	const reloads, every = 20, 500 * time.Millisecond
	_, apiAddr := (&backend{name: "api"}).listen(t, "127.0.0.1:0")
	_, altAddr := (&backend{name: "alt"}).listen(t, "127.0.0.1:0")
	port := freePort(t, "127.0.0.1")
	sock := adminSocketPath(t)
	// A: everything to api. B: /b/ goes to a second upstream, alt.
	cfgA := agentYAML{
		listen:  []string{"127.0.0.1:" + port},
		admin:   sock,
		timeout: 5 * time.Second,
		servers: []server{{addr: apiAddr}},
		health:  "{path: /health, interval: 200ms, rise: 1, fall: 1}",
	}.String()
	cfgB := strings.Replace(cfgA, "routes:\n",
		fmt.Sprintf("  alt:\n    servers:\n      - addr: %q\n        weight: 2\nroutes:\n", altAddr), 1) +
		"  - path: /b/\n    upstream: alt\n"
	invalid := "bogus: 1\n" + cfgA
	cfg := writeFile(t, "agent.yaml", cfgA)
	p := startAgent(t, cfg)
	waitReady(t, p, httpClient(nil), urlFor("127.0.0.1", port, "/health"))
	admin := adminClient(sock)
	probe := func() string {
		t.Helper()
		code, body, _, err := get(httpClient(nil), urlFor("127.0.0.1", port, "/b/probe"))
		if err != nil || code != 200 {
			t.Fatalf("GET /b/probe: %d %q %v", code, body, err)
		}
		return body
	}
	if got := probe(); got != "api" {
		t.Fatalf("before any reload /b/ is served by %q, want api", got)
	}

	load := startLoad(t, urlFor("127.0.0.1", port, "/load"), loadConns)
	// A few connections on the path that moves between upstreams, so requests
	// are in flight on an upstream that a reload removes.
	moving := startLoad(t, urlFor("127.0.0.1", port, "/b/load"), 8)
	time.Sleep(300 * time.Millisecond)
	began := time.Now()
	var took []time.Duration
	for i := 1; i <= reloads; i++ {
		time.Sleep(time.Until(began.Add(time.Duration(i-1) * every)))
		content, want := cfgA, "api"
		if i%2 == 1 {
			content, want = cfgB, "alt"
		}
		swapFile(t, cfg, []byte(content), 0o600)
		t0 := time.Now()
		if i%2 == 1 {
			code, a := postAdmin(t, admin, "/reload")
			if code != 200 || a.Status != "reloaded" || a.Reloads != uint64(i) {
				t.Fatalf("reload %d by POST /reload: %d %+v, want 200 reloaded with reloads %d", i, code, a, i)
			}
		} else {
			if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			for st := getStatus(t, admin); st.Reloads != uint64(i); st = getStatus(t, admin) {
				if st.ReloadError != "" || time.Since(t0) > 2*time.Second {
					t.Fatalf("reload %d by SIGHUP: /status says reloads %d, error %q; want reloads %d", i, st.Reloads, st.ReloadError, i)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		took = append(took, time.Since(t0))
		if got := probe(); got != want {
			t.Errorf("after reload %d /b/ is served by %q, want %s", i, got, want)
		}

		if i == reloads/2 {
			// An invalid file mid-way: rejected with file:line:col, and
			// nothing changes.
			swapFile(t, cfg, []byte(invalid), 0o600)
			code, a := postAdmin(t, admin, "/reload")
			wantErr := cfg + `:1:1: unknown key "bogus"`
			if code != http.StatusUnprocessableEntity || a.Status != "rejected" || !strings.Contains(a.Error, wantErr) {
				t.Errorf("invalid config: %d %+v, want 422 rejected with %s", code, a, wantErr)
			}
			st := getStatus(t, admin)
			if st.Reloads != uint64(i) || !strings.Contains(st.ReloadError, wantErr) {
				t.Errorf("after the invalid config /status says reloads %d, error %q; want %d and the error", st.Reloads, st.ReloadError, i)
			}
			if got := probe(); got != want {
				t.Errorf("after the invalid config /b/ is served by %q, want still %s", got, want)
			}
			t.Logf("invalid config rejected: %s", a.Error)
		}
	}
	time.Sleep(300 * time.Millisecond)
	s, sm := load.stop(t), moving.stop(t)
	if st := getStatus(t, admin); st.Reloads != reloads || st.ReloadError != "" {
		t.Errorf("at the end /status says reloads %d, error %q; want %d and none", st.Reloads, st.ReloadError, reloads)
	}
	if p.exited() {
		t.Fatalf("agent exited during the reloads: %v", p.err)
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	t.Logf("%d reloads in %s, each answered in %s to %s (median %s)", reloads,
		time.Since(began).Round(time.Millisecond), took[0].Round(time.Microsecond),
		took[len(took)-1].Round(time.Microsecond), took[len(took)/2].Round(time.Microsecond))
	t.Logf("load on /load: %s", s)
	t.Logf("load on /b/load: %s", sm)
	requireNoFailures(t, "/load", s)
	requireNoFailures(t, "/b/load", sm)
}

func TestUpgradeUnderLoad(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("binary upgrade hands sockets over on Linux only; this test also reads /proc")
	}
	_, baddr := (&backend{name: "api"}).listen(t, "127.0.0.1:0")
	port := freePort(t, "127.0.0.1")
	sock := adminSocketPath(t)
	cfg := writeFile(t, "agent.yaml", agentYAML{
		listen:  []string{"127.0.0.1:" + port},
		admin:   sock,
		delay:   time.Second, // not used by an upgrade
		timeout: 5 * time.Second,
		servers: []server{{addr: baddr}},
		health:  "{path: /health, interval: 200ms, rise: 1, fall: 1}",
	}.String())
	dir := t.TempDir()
	bin := filepath.Join(dir, "edgectl")
	image, err := os.ReadFile(edgectl(t))
	if err != nil {
		t.Fatal(err)
	}
	swapFile(t, bin, image, 0o755)

	// The successors inherit the agent's stdout and stderr; a file (not a
	// pipe) lets the first process be waited for while they still run.
	logPath := filepath.Join(dir, "agent.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "agent", "--config", cfg)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	p := &proc{cmd: cmd, stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if !p.exited() {
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("agent log:\n%s", b)
		}
	})
	// Successors are not children of this test: whatever still runs the
	// binary when the test ends is killed.
	t.Cleanup(func() { killRunning(bin) })
	waitReady(t, p, httpClient(nil), urlFor("127.0.0.1", port, "/health"))
	admin := adminClient(sock)
	pid := cmd.Process.Pid

	load := startLoad(t, urlFor("127.0.0.1", port, "/load"), loadConns)
	time.Sleep(time.Second)
	for gen := 1; gen <= 2; gen++ {
		swapFile(t, bin, image, 0o755) // the package manager put a new binary there
		t0 := time.Now()
		code, a := postAdmin(t, admin, "/upgrade")
		answered := time.Since(t0)
		if code != 200 || a.Status != "upgraded" || a.OldPID != pid {
			t.Fatalf("upgrade %d: POST /upgrade: %d %+v, want 200 upgraded from pid %d", gen, code, a, pid)
		}
		// The successor is a child of the old agent, not of this test,
		// and the old agent may be gone already: find it by its binary.
		next := successor(t, bin, pid)
		if gen == 1 {
			if code := p.wait(t, 10*time.Second); code != 0 {
				t.Errorf("upgrade %d: the old agent exited %d, want 0", gen, code)
			}
		} else {
			waitGone(t, pid, 10*time.Second)
		}
		gone := time.Since(t0)
		if st := getStatus(t, admin); st.PID != next {
			t.Fatalf("upgrade %d: /status from pid %d, want the new agent %d", gen, st.PID, next)
		}
		if !sameFile(fmt.Sprintf("/proc/%d/exe", next), bin) {
			t.Errorf("upgrade %d: pid %d does not run the file now at %s", gen, next, bin)
		}
		t.Logf("upgrade %d: pid %d → %d; answered in %s, old process gone after %s",
			gen, pid, next, answered.Round(time.Millisecond), gone.Round(time.Millisecond))
		pid = next
		time.Sleep(time.Second)
	}
	s := load.stop(t)
	t.Logf("load: %s", s)
	requireNoFailures(t, "upgrade", s)
	if s.Connects <= loadConns {
		t.Errorf("loadgen opened %d connections, want more than %d: the old agents should have closed theirs", s.Connects, loadConns)
	}
}

// running lists the live processes started as bin (a path in the test's
// temporary directory, so nothing else runs it).
func running(bin string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !runs(pid, bin) {
			continue
		}
		if state, _, ok := procState(pid); ok && state != 'Z' && state != 'X' {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killRunning kills every live process started as bin.
func killRunning(bin string) {
	for _, pid := range running(bin) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// successor returns the one live process other than old that runs bin.
func successor(t testing.TB, bin string, old int) int {
	t.Helper()
	var found []int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		found = slices.DeleteFunc(running(bin), func(pid int) bool { return pid == old })
		if len(found) == 1 {
			return found[0]
		}
	}
	t.Fatalf("processes running %s besides pid %d: %v, want exactly the new agent", bin, old, found)
	return 0
}

// runs reports whether pid was started as bin.
func runs(pid int, bin string) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && bytes.HasPrefix(cmdline, []byte(bin+"\x00"))
}

// procState reads a process's state letter and parent from /proc.
func procState(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	return f[0][0], ppid, err == nil
}

// sameFile reports whether a and b name the same file.
func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// waitGone waits until pid has exited (a zombie counts: its parent, the
// agent before it, is gone too).
func waitGone(t testing.TB, pid int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		state, _, ok := procState(pid)
		if !ok || state == 'Z' || state == 'X' {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still running after %s", pid, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWebSocketGetsGoingAwayOnDrain(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/", &backend{name: "api"})
	mux.Handle("/ws", websocket.Handler(func(ws *websocket.Conn) { _, _ = io.Copy(ws, ws) }))
	baddr := serveBackend(t, mux)
	port := freePort(t, "127.0.0.1")
	cfg := writeFile(t, "agent.yaml", agentYAML{
		listen:  []string{"127.0.0.1:" + port},
		delay:   0,
		timeout: 5 * time.Second,
		servers: []server{{addr: baddr}},
		health:  "{path: /health, interval: 200ms, rise: 1, fall: 1}",
	}.String())
	p := startAgent(t, cfg)
	waitReady(t, p, httpClient(nil), urlFor("127.0.0.1", port, "/health"))

	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", port), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1\r\n\r\n",
		net.JoinHostPort("127.0.0.1", port))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %s, want 101", resp.Status)
	}
	if err := writeWSFrame(c, wsText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if op, payload, err := readWSFrame(br); err != nil || op != wsText || string(payload) != "hello" {
		t.Fatalf("echo: opcode %d %q %v, want text \"hello\"", op, payload, err)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	op, payload, err := readWSFrame(br)
	gotClose := time.Since(sent)
	if err != nil {
		t.Fatalf("after SIGTERM: %v, want a close frame", err)
	}
	if op != wsClose || len(payload) < 2 {
		t.Fatalf("after SIGTERM: opcode %d payload %x, want a close frame with a status", op, payload)
	}
	if status := binary.BigEndian.Uint16(payload); status != 1001 {
		t.Errorf("close status %d, want 1001 (going away)", status)
	}
	// Answer it, as a client does; then the agent closes the connection.
	_ = writeWSFrame(c, wsClose, payload[:2])
	rest, err := io.ReadAll(br)
	closed := time.Since(sent)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("after the close frame: %v, want the connection closed", err)
	}
	if len(rest) > 0 {
		t.Errorf("%d more bytes after the close frame: %x", len(rest), rest)
	}
	exit := p.wait(t, 10*time.Second)
	t.Logf("close frame 1001 %s after SIGTERM, connection closed after %s, agent exited %d after %s",
		gotClose.Round(time.Microsecond), closed.Round(time.Microsecond), exit, time.Since(sent).Round(time.Microsecond))
	if exit != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", exit)
	}
}

const (
	wsText  = 0x1
	wsClose = 0x8
)

// writeWSFrame writes one final, masked frame (clients must mask).
func writeWSFrame(w io.Writer, opcode byte, payload []byte) error {
	if len(payload) > 125 {
		return fmt.Errorf("payload of %d bytes: only short frames here", len(payload))
	}
	mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	b := []byte{0x80 | opcode, 0x80 | byte(len(payload))}
	b = append(b, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i%4])
	}
	_, err := w.Write(b)
	return err
}

// readWSFrame reads one frame from the server (unmasked, not fragmented).
func readWSFrame(br *bufio.Reader) (opcode byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, nil, err
	}
	if h[0]&0x80 == 0 {
		return 0, nil, fmt.Errorf("fragmented frame %x", h)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(l[:])
	}
	if h[1]&0x80 != 0 {
		return 0, nil, fmt.Errorf("masked frame from the server %x", h)
	}
	if n > 1<<20 {
		return 0, nil, fmt.Errorf("frame of %d bytes", n)
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(br, payload)
	return h[0] & 0x0f, payload, err
}
