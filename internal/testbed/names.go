package testbed

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// namePrefix starts every name this package creates.
const namePrefix = "etb"

// nameRE matches the names made by runPrefix + a kind: owner pid in base 36,
// a two-character tag, "-", then "br" (bridge), "v<i>" (root end of a veth)
// or "n<i>" (network namespace, machine name and overlay mount point).
var nameRE = regexp.MustCompile(`^` + namePrefix + `([0-9a-z]{1,5})([0-9a-z]{2})-(br|[vn][0-9a-z]{1,2})$`)

// runPrefix returns the name prefix of a run owned by pid: "etb" + pid in
// base 36 + a random two-character tag, such as "etb2k1fq7".
func runPrefix(pid int) string {
	tag := strconv.FormatInt(int64(rand.IntN(36*36)), 36)
	if len(tag) < 2 {
		tag = "0" + tag
	}
	return namePrefix + strconv.FormatInt(int64(pid), 36) + tag
}

func bridgeName(prefix string) string       { return prefix + "-br" }
func vethName(prefix string, i int) string  { return prefix + "-v" + strconv.FormatInt(int64(i), 36) }
func netnsName(prefix string, i int) string { return prefix + "-n" + strconv.FormatInt(int64(i), 36) }

// ownerOf returns the owning pid encoded in a name made by this package.
func ownerOf(name string) (int, bool) {
	m := nameRE.FindStringSubmatch(name)
	if m == nil {
		return 0, false
	}
	pid, err := strconv.ParseInt(m[1], 36, 64)
	if err != nil || pid <= 0 {
		return 0, false
	}
	return int(pid), true
}

// pidAlive reports whether pid is a running process (a zombie is not).
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && err != syscall.EPERM {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

// isStale reports whether name belongs to a run whose owner is gone.
func isStale(name string) bool {
	pid, ok := ownerOf(name)
	return ok && !pidAlive(pid)
}

// run runs a command and returns its standard output; the error names the
// command and carries its standard error.
func run(name string, args ...string) (string, error) {
	return runIn(nil, name, args...)
}

// runIn is run with stdin.
func runIn(stdin []byte, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	var stdout, stderr bytes.Buffer
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
	}
	return stdout.String(), nil
}
