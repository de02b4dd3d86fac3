package sshtest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// waitSSH waits until addr answers with an SSH banner.
func waitSSH(ctx context.Context, dial func(ctx context.Context, network, addr string) (net.Conn, error), addr string) error {
	for {
		c, err := dial(ctx, "tcp", addr)
		if err == nil {
			c.SetDeadline(time.Now().Add(2 * time.Second))
			line, rerr := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if rerr == nil && strings.HasPrefix(line, "SSH-2.0-") {
				return nil
			}
			err = fmt.Errorf("no SSH banner (%q, %v)", line, rerr)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %v", addr, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Signal sends sig to sshd and to the processes serving its connections:
// syscall.SIGSTOP freezes the server (a hung host), SIGCONT thaws it.
func (s *Server) Signal(sig syscall.Signal) {
	signalTree(s.pid, sig)
}

// killTree kills pid and its direct children (sshd forks a session process
// per connection that calls setsid, so a process group kill misses it).
func killTree(pid int) { signalTree(pid, syscall.SIGKILL) }

func signalTree(pid int, sig syscall.Signal) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces, so cut at the last ')'.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		f := strings.Fields(rest)
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			syscall.Kill(child, sig)
		}
	}
	syscall.Kill(pid, sig)
}
