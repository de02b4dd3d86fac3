package certs_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgectl/edgectl/certs"
	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/internal/pebbletest"
	"github.com/edgectl/edgectl/internal/sshtest"
	"github.com/edgectl/edgectl/remote"
	"github.com/edgectl/edgectl/remote/remotetest"
)

// TestIssueOverSSH is the production transport: every token, probe token
// and certificate goes through a real sshd (SFTP writes, commands over
// SSH). Both "hosts" are this machine, so each SSH session is rooted at
// its agent's directory.
func TestIssueOverSSH(t *testing.T) {
	tb := newBed(t, 0, false)
	srv := sshtest.Start(t, sshtest.Options{Addrs: []string{"127.0.0.1", "::1"}})
	c := config(t, tb, filepath.Join(t.TempDir(), "state"))
	c.Dial = func(ctx context.Context, h fleet.Host) (remote.Host, error) {
		s, err := remote.DialSSH(ctx, srv.Config(h.Name))
		if err != nil {
			return nil, err
		}
		return remotetest.Rooted(s, tb.Agent(h.Name).Root, h.Name), nil
	}
	res, err := certs.Issue(pebbletest.Ctx(t), c)
	if err != nil {
		t.Fatalf("issue over SSH: %v", err)
	}
	if !res.Distribution.OK() || res.Orders != 1 {
		t.Fatalf("distribution %+v, orders %d", res.Distribution, res.Orders)
	}
	for _, a := range tb.Agents {
		key := filepath.Join(a.Root, pebbletest.CertsDir, "www.fleet.test", certs.KeyFile)
		if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: key written over SSH: %v, %v; want mode 0600", a.Name, err, fi)
		}
		if ents, _ := os.ReadDir(filepath.Join(a.Root, pebbletest.ACMEDir)); len(ents) != 0 {
			t.Errorf("%s: tokens left: %v", a.Name, ents)
		}
	}
}
