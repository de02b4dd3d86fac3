package agent_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// notifySocket is a unixgram socket standing in for systemd's
// NOTIFY_SOCKET: it collects every sd_notify datagram.
type notifySocket struct {
	path string
	msgs chan string
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Skipf("unixgram sockets unavailable: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ns := &notifySocket{path: path, msgs: make(chan string, 64)}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			ns.msgs <- string(buf[:n])
		}
	}()
	return ns
}

// expect waits for a datagram containing every part.
func (ns *notifySocket) expect(t *testing.T, parts ...string) string {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case m := <-ns.msgs:
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(m, p)
			}
			if ok {
				return m
			}
		case <-deadline:
			t.Fatalf("no sd_notify message with %q within 5s", parts)
		}
	}
}

// TestSystemdNotify checks the messages a Type=notify unit relies on:
// READY at start, RELOADING then READY around a reload, MAINPID from the
// new process on an upgrade (before the old one exits, and with no
// STOPPING from the old one), STOPPING on SIGTERM.
func TestSystemdNotify(t *testing.T) {
	ns := listenNotify(t)
	port := freePort(t, "127.0.0.1")
	sock := adminSocketPath(t)
	cfg := writeFile(t, "agent.yaml", agentYAML{
		listen: []string{"127.0.0.1:" + port}, admin: sock, delay: 0, timeout: 2 * time.Second,
		servers: []server{{addr: "127.0.0.1:1"}},
	}.String())
	cmd := exec.Command(edgectl(t), "agent", "--config", cfg)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+ns.path)
	p := start(t, cmd)
	ns.expect(t, "READY=1", "STATUS=serving")

	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	ns.expect(t, "RELOADING=1")
	ns.expect(t, "READY=1")

	resp, err := adminClient(sock).Post("http://agent/upgrade", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("upgrade: %d", resp.StatusCode)
	}
	m := ns.expect(t, "MAINPID=")
	var pid int
	for _, line := range strings.Split(m, "\n") {
		if v, ok := strings.CutPrefix(line, "MAINPID="); ok {
			pid = atoiOrZero(v)
		}
	}
	if pid == 0 || pid == cmd.Process.Pid {
		t.Fatalf("MAINPID=%d, want the new process (old %d): %q", pid, cmd.Process.Pid, m)
	}
	successor, _ := os.FindProcess(pid)
	t.Cleanup(func() { _ = successor.Kill() })
	// The old process exits (its output pipes stay open in the successor,
	// so watch /proc rather than waiting for exec.Cmd).
	_ = p
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid))); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the old process did not exit within 5s of the upgrade")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The old process must not say STOPPING=1: the unit is not stopping.
	select {
	case m := <-ns.msgs:
		if strings.Contains(m, "STOPPING") {
			t.Fatalf("the old process announced %q during a handover", m)
		}
	case <-time.After(200 * time.Millisecond):
	}
	if err := successor.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ns.expect(t, "STOPPING=1")
}

func atoiOrZero(s string) int {
	n := 0
	for _, c := range strings.TrimSpace(s) {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}
