package hostlock

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"
)

// Holder says who holds a lock. It is the lock file's JSON line.
type Holder struct {
	// Kind is deploy, install, cert or takeover.
	Kind string `json:"kind"`
	// User and Machine are the login and host name where the run started.
	User    string `json:"user"`
	Machine string `json:"machine"`
	// MachineID is /etc/machine-id of that machine (to tell machines with
	// the same name apart).
	MachineID string `json:"machine_id,omitempty"`
	// PID is the run's process; PIDStart its start time in clock ticks
	// after boot (/proc/PID/stat), so a reused pid is not taken for it.
	PID      int    `json:"pid"`
	PIDStart uint64 `json:"pid_start,omitempty"`
	// Command is the command line, e.g. "deploy fleet.yaml --hosts a".
	Command string `json:"command"`
	// Token identifies this lock; only its holder releases it.
	Token string `json:"token"`
	// MaxMS is the run's maximum time in milliseconds: a lock held longer
	// is stale.
	MaxMS int64 `json:"max_ms"`
}

// Self describes this process as a holder of kind running command, whose
// run takes at most max.
func Self(kind, command string, max time.Duration) Holder {
	h := Holder{Kind: kind, Command: command, PID: os.Getpid(), MaxMS: max.Milliseconds(), Token: newToken()}
	if u, err := user.Current(); err == nil {
		h.User = u.Username
	} else {
		h.User = os.Getenv("USER")
	}
	h.Machine, _ = os.Hostname()
	h.MachineID = machineID()
	h.PIDStart = procStart(h.PID)
	return h
}

func newToken() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func machineID() string {
	b, err := os.ReadFile("/etc/machine-id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// procStart is field 22 of /proc/PID/stat (0 when unknown).
func procStart(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command may hold spaces
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0
	}
	n, _ := strconv.ParseUint(f[19], 10, 64)
	return n
}

// alive reports whether pid runs and is the process that started at start.
func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	got := procStart(pid)
	return got != 0 && (start == 0 || got == start)
}

// Holder is who this lock says holds it.
func (l *Lock) Holder() Holder { return l.holder }
