package buildtest

import (
	"os/exec"
	"strings"
	"testing"
)

func TestBuildOnceAndStamp(t *testing.T) {
	defer Cleanup()
	a := Binary(t, "./cmd/edgectl", "v-test-1")
	if b := Binary(t, "./cmd/edgectl", "v-test-1"); a != b {
		t.Fatalf("the same package and version built twice: %s, %s", a, b)
	}
	out, err := exec.Command(a, "version").Output()
	if err != nil || !strings.Contains(string(out), "v-test-1") {
		t.Fatalf("version stamp: %v %s", err, out)
	}
	if _, err := Build("./does/not/exist", "x"); err == nil {
		t.Fatal("a missing package must fail to build")
	}
}
