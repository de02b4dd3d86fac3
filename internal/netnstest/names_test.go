package netnstest

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestNameFitsInterfaceNames(t *testing.T) {
	const maxPid = 1 << 22 // PID_MAX_LIMIT on 64-bit Linux
	const maxCounter = 36*36*36 - 1
	name := procPrefix(maxPid, "zz") + string(kindNS) + strconv.FormatUint(maxCounter, 36)
	if len(name) > maxNameLen {
		t.Errorf("longest name %q is %d bytes, want at most %d", name, len(name), maxNameLen)
	}
	pid, tag, ok := parseName(name)
	if !ok || pid != maxPid || tag != "zz" {
		t.Errorf("parseName(%q) = %d, %q, %v; want %d, \"zz\", true", name, pid, tag, ok, maxPid)
	}
}

func TestNewNameParses(t *testing.T) {
	name, err := newName(kindNS)
	if err != nil {
		t.Fatal(err)
	}
	pid, tag, ok := parseName(name)
	if !ok || pid != os.Getpid() || tag != procTag {
		t.Errorf("parseName(%q) = %d, %q, %v; want %d, %q, true", name, pid, tag, ok, os.Getpid(), procTag)
	}
	if isStale(name) {
		t.Errorf("isStale(%q) = true for a name of this process", name)
	}
}

func TestIsStale(t *testing.T) {
	otherTag := "00"
	if procTag == otherTag {
		otherTag = "01"
	}
	tests := []struct {
		name  string
		ns    string
		stale bool
	}{
		{"this process", procPrefix(os.Getpid(), procTag) + "n5", false},
		{"earlier process with our pid", procPrefix(os.Getpid(), otherTag) + "n5", true},
		{"live process", procPrefix(1, "ab") + "h1", false},
		{"unrelated namespace", "vps1", false},
		{"our prefix, not our format", "ect-edge", false},
		{"no counter", procPrefix(os.Getpid(), otherTag) + "n", false},
		{"upper case", strings.ToUpper(procPrefix(os.Getpid(), otherTag)) + "n1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isStale(tt.ns); got != tt.stale {
				t.Errorf("isStale(%q) = %v, want %v", tt.ns, got, tt.stale)
			}
		})
	}
}

func TestHostAddresses(t *testing.T) {
	tests := []struct {
		n      int
		v4, v6 string
	}{
		{2, "198.18.0.2", "fd00:e:d9e::2"},
		{12, "198.18.0.12", "fd00:e:d9e::12"},
		{254, "198.18.0.254", "fd00:e:d9e::254"},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.n), func(t *testing.T) {
			if got := hostV4(tt.n).String(); got != tt.v4 {
				t.Errorf("hostV4(%d) = %s, want %s", tt.n, got, tt.v4)
			}
			if got := hostV6(tt.n).String(); got != tt.v6 {
				t.Errorf("hostV6(%d) = %s, want %s", tt.n, got, tt.v6)
			}
		})
	}
}
