package nginximport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io/fs"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/golden"
)

// cases are the nginx configurations under testdata/nginx/<case>/ (each
// laid over testdata/nginx/common/), as found on real nodes: install.sh's
// upstream, a CN2 node's TLS server with the WebSocket map, Debian's
// default site, a certbot-edited site, a WebSocket site, a site of several
// upstreams, one of rewrites and ifs, one of include chains, and a TCP
// stream.
var cases = []string{"installsh", "cn2-tls", "debian-default", "certbot", "websocket", "multi-upstream", "rewrites", "include-chains", "stream"}

// rootedPath matches an absolute path of the trees that the real-nginx
// test moves under a scratch root.
var rootedPath = regexp.MustCompile(`(^|[\s"'=:])(/(?:etc|var|run|root|srv)/)`)

// TestRealNginxDumps runs the real nginx -T on every case, from a scratch
// root, and checks that what it prints (the scratch root removed) is the
// dump under testdata/dumps/ that the golden tests translate: the goldens
// rest on genuine nginx -T output of configurations nginx accepts. With
// -update it writes the dumps.
func TestRealNginxDumps(t *testing.T) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		for _, d := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
			if _, serr := os.Stat(d); serr == nil {
				bin, err = d, nil
			}
		}
	}
	if err != nil {
		t.Skip("nginx is not installed (apt-get install nginx libnginx-mod-stream); the dumps under testdata/dumps are checked by TestGolden only")
	}
	for _, c := range cases {
		t.Run(c, func(t *testing.T) {
			if c == "stream" {
				if _, err := os.Stat("/usr/lib/nginx/modules/ngx_stream_module.so"); err != nil {
					t.Skip("nginx's stream module is not installed (apt-get install libnginx-mod-stream)")
				}
			}
			root := t.TempDir()
			for _, src := range []string{"common", c} {
				copyTree(t, filepath.Join("testdata", "nginx", src), root)
			}
			for _, d := range []string{"var/log/nginx", "run", "var/cache/nginx"} {
				if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			makeCertificates(t, root)
			cmd := exec.Command(bin, "-T", "-c", filepath.Join(root, "etc/nginx/nginx.conf"), "-p", root+"/")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil && strings.Contains(stderr.String(), "unknown directive") {
				t.Skipf("this nginx is built without a module the case uses: %s", strings.TrimSpace(stderr.String()))
			}
			if err != nil {
				t.Fatalf("nginx -T: %v\n%s", err, stderr.String())
			}
			dump := strings.ReplaceAll(string(out), root, "")
			golden.Check(t, "nginx -T of "+c, filepath.Join("testdata", "dumps", c+".dump"), []byte(dump))
		})
	}
}

// copyTree copies src over dst, moving the absolute paths in the files
// under dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		data = rootedPath.ReplaceAll(data, []byte("${1}"+dst+"${2}"))
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// makeCertificates writes a self-signed pair for every ssl_certificate and
// ssl_certificate_key of the tree, since nginx -T loads them.
func makeCertificates(t *testing.T, root string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "nginx-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), DNSNames: []string{"nginx-test"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	re := regexp.MustCompile(`(?m)^\s*(ssl_certificate|ssl_certificate_key)\s+(\S+);`)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllStringSubmatch(string(data), -1) {
			content := certPEM
			if m[1] == "ssl_certificate_key" {
				content = keyPEM
			}
			if err := os.MkdirAll(filepath.Dir(m[2]), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(m[2], content, 0o600); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
