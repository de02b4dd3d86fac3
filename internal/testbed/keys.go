package testbed

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshdDropIn is bind-mounted as /etc/ssh/sshd_config.d/edgectl-testbed.conf:
// only the host's own key is offered and only keys log in.
const sshdDropIn = `# edgectl testbed: this host's own key only, no passwords.
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
`

// writeKey generates an ed25519 key pair and writes the private key (0600,
// OpenSSH format) to path and the public key to path+".pub".
func writeKey(path, comment string) (ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	line := strings.TrimSuffix(string(ssh.MarshalAuthorizedKey(sshPub)), "\n") + " " + comment + "\n"
	if err := os.WriteFile(path+".pub", []byte(line), 0o644); err != nil {
		return nil, err
	}
	return sshPub, nil
}

// knownHostsLines returns one known_hosts line naming key under every
// address, in OpenSSH's form ("[addr]:port" when port is not 22).
func knownHostsLines(addrs []string, port string, key ssh.PublicKey) string {
	var b strings.Builder
	for _, a := range addrs {
		if a == "" {
			continue
		}
		b.WriteString(knownhosts.Line([]string{net.JoinHostPort(a, port)}, key))
		b.WriteByte('\n')
	}
	return b.String()
}

// writeFile writes data with perm, creating the directory.
func writeFile(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(path, data, perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Chmod(path, perm)
}
