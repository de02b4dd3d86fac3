package cli

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgectl/edgectl/agent/agenttest"
)

// hangingSocket is a unix socket that accepts and never answers.
func hangingSocket(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "hang.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return sock
}

// startAgent runs a real agent in this process with its admin socket in a
// temporary directory and returns its config file and socket.
func startAgent(t *testing.T) (config, sock string) {
	t.Helper()
	dir := t.TempDir()
	sock = filepath.Join(dir, "admin.sock")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	config = writeFile(t, dir, "agent.yaml", fmt.Sprintf("listen:\n  - addr: %q\nadmin: %s\naccess_log: \"off\"\ndrain: {delay: 0s, timeout: 1s}\nendpoints: {file: %s}\n",
		addr, sock, filepath.Join(dir, "endpoints.txt")))
	agenttest.Start(t, config)
	return config, sock
}

// TestAgentCtlFindsTheSocket: the admin subcommands reach the agent through
// the socket named in --config, or --admin; a config without one, or a
// missing config, says what to pass.
func TestAgentCtlFindsTheSocket(t *testing.T) {
	t.Setenv("EDGECTL_ADMIN_SOCKET", "")
	t.Setenv("EDGECTL_AGENT_CONFIG", "")
	config, sock := startAgent(t)
	for _, args := range [][]string{
		{"agent", "status", "--config", config},
		{"agent", "--config", config, "status"},
		{"agent", "status", "--admin", sock},
		{"agent", "status", "-c", config, "--json"},
	} {
		code, out, errOut := runCLI(t, nil, args...)
		if code != 0 || !strings.Contains(out, "test") || !strings.Contains(out, config) {
			t.Errorf("%v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
		}
	}
	for _, sub := range []struct{ cmd, want string }{{"drain", "draining\n"}, {"undrain", "serving\n"}, {"reload", "reloaded\n"}} {
		if code, out, errOut := runCLI(t, nil, "agent", sub.cmd, "--config", config); code != 0 || out != sub.want {
			t.Errorf("agent %s: exit %d, %q %q", sub.cmd, code, out, errOut)
		}
	}

	dir := t.TempDir()
	off := writeFile(t, dir, "off.yaml", "admin: \"\"\n")
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"agent", "status", "--config", off}, 2, "turns the admin socket off"},
		{[]string{"agent", "status", "--config", filepath.Join(dir, "none.yaml")}, 2, "pass the agent's config with --config FILE, or its socket with --admin SOCK"},
		{[]string{"agent", "status", "--admin", filepath.Join(dir, "none.sock")}, 1, "none.sock"},
	} {
		code, _, errOut := runCLI(t, nil, tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, %q; want %d and %q", tt.args, code, errOut, tt.code, tt.want)
		}
	}
}
