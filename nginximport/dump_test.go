package nginximport

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgectl/edgectl/remote"
)

// TestDumpRealNginx runs Dump through remote.Local with the real nginx
// on a scratch configuration and translates the result.
func TestDumpRealNginx(t *testing.T) {
	if _, err := exec.LookPath("nginx"); err != nil {
		if _, err := os.Stat("/usr/sbin/nginx"); err != nil {
			t.Skip("nginx is not installed (apt-get install nginx)")
		}
	}
	root := t.TempDir()
	copyTree(t, filepath.Join("testdata", "nginx", "common"), root)
	copyTree(t, filepath.Join("testdata", "nginx", "cn2-tls"), root)
	for _, d := range []string{"var/log/nginx", "run"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	makeCertificates(t, root)
	ctx := context.Background()
	cfg, err := Dump(ctx, remote.Local{}, DumpOptions{Conf: filepath.Join(root, "etc/nginx/nginx.conf"), Prefix: root + "/"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Translate(cfg, Options{Source: "nginx -T on localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count(Important) != 0 || !strings.Contains(string(res.YAML), "upstream: backend_api") {
		t.Fatalf("the CN2 node's configuration through the real nginx:\n%s", res.YAML)
	}
	// A configuration nginx refuses is an error that says so.
	bad := filepath.Join(root, "bad.conf")
	if err := os.WriteFile(bad, []byte("events {}\nhttp { server { listen 80; location / { proxy_pass http://; } } }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Dump(ctx, remote.Local{}, DumpOptions{Conf: bad, Prefix: root + "/"}); err == nil || !strings.Contains(err.Error(), "nginx -T failed") {
		t.Fatalf("a broken configuration: %v", err)
	}
	if _, err := Dump(ctx, remote.Local{}, DumpOptions{Bin: "/nonexistent/nginx"}); !errors.Is(err, ErrNoNginx) {
		t.Fatalf("no nginx: %v", err)
	}
}
