package diagnose

import (
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/netnstest"
	"github.com/edgectl/edgectl/internal/sshtest"
	"github.com/edgectl/edgectl/remote"
)

// TestRemoteSeedOutage diagnoses a host over real SSH: the backend listens
// on the remote host's 0.0.0.0:8000 only, and [::1] must mean the remote
// loopback (the test process's own has nothing on 8000 in that namespace).
func TestRemoteSeedOutage(t *testing.T) {
	t.Parallel()
	vps := netnstest.New(t, netnstest.Options{Bridge: true})
	client := netnstest.New(t, netnstest.Options{Bridge: true})
	srv := sshtest.Start(t, sshtest.Options{Netns: vps})
	goBackend(t, vps, "0.0.0.0:8000", healthy, 0)

	start := time.Now()
	cfg := srv.Config("vps1")
	cfg.DialContext = client.DialContext
	h, err := remote.DialSSH(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	rep, err := Run(t.Context(), h, Options{Port: 8000})
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Host != "vps1" {
		t.Errorf("host %q, want vps1", rep.Host)
	}
	wantCause(t, rep, CauseIPv4OnlyBackend, "0.0.0.0:8000", "[::1]:8000 is refused while 127.0.0.1:8000 answers")
	if c := check(t, rep, "listen.ipv4"); c.Status != StatusOK || c.Evidence == "" {
		t.Errorf("listen.ipv4 over SSH: %s %q", c.Status, c.Evidence)
	}
	t.Logf("remote run over SSH (dial included): %s", took)
	if took > 4*time.Second {
		t.Errorf("remote run took %s, want about 2 s at most", took)
	}
}
