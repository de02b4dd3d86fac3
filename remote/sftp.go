package remote

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"

	"github.com/pkg/sftp"
)

// sftpClient opens the connection's SFTP client on first use.
func (s *SSH) sftpClient() (*sftp.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sc != nil {
		return s.sc, nil
	}
	select {
	case <-s.closed:
		return nil, &TransportError{Host: s.name, Err: fmt.Errorf("%s: connection closed", s.name)}
	default:
	}
	sc, err := sftp.NewClient(s.client)
	if err != nil {
		select {
		case <-s.closed:
			return nil, &TransportError{Host: s.name, Err: fmt.Errorf("%s: start sftp: %w", s.name, err)}
		default:
		}
		return nil, fmt.Errorf("%s: start sftp: %w (enable the sftp subsystem in the host's sshd_config)", s.name, err)
	}
	s.sc = sc
	return sc, nil
}

// withContext runs op and returns its error, or ctx's as soon as ctx is
// done: SFTP calls cannot be cancelled, so a call to a host that hangs
// finishes (or fails when the keepalive closes the connection) in the
// background.
func (s *SSH) withContext(ctx context.Context, op string, p string, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %s %s: %w", s.name, op, p, err)
	}
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%s: %s %s: %w", s.name, op, p, ctx.Err())
	}
}

// ReadFile reads path over SFTP. A missing file gives an error matching
// fs.ErrNotExist.
func (s *SSH) ReadFile(ctx context.Context, p string) ([]byte, error) {
	var data []byte
	err := s.withContext(ctx, "read", p, func() (err error) {
		data, err = s.readFile(p)
		return err
	})
	return data, err
}

func (s *SSH) readFile(p string) ([]byte, error) {
	sc, err := s.sftpClient()
	if err != nil {
		return nil, err
	}
	f, err := sc.Open(p)
	if err != nil {
		return nil, s.pathErr("read", p, err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, s.pathErr("read", p, err)
	}
	return data, nil
}

// WriteFile replaces p atomically: the data goes to .<base>.edgectl.tmp-<random>
// in the same directory, which is chmodded to perm before any data is
// written, fsynced (when the server supports fsync@openssh.com) and
// renamed over p with posix-rename@openssh.com. On failure the temporary
// file is removed and p is left as it was.
func (s *SSH) WriteFile(ctx context.Context, p string, data []byte, perm fs.FileMode) error {
	return s.withContext(ctx, "write", p, func() error { return s.writeFile(ctx, p, data, perm) })
}

func (s *SSH) writeFile(ctx context.Context, p string, data []byte, perm fs.FileMode) (err error) {
	sc, err := s.sftpClient()
	if err != nil {
		return err
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := path.Join(path.Dir(p), "."+path.Base(p)+TempInfix+hex.EncodeToString(rnd[:]))
	f, err := sc.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return s.pathErr("write", p, err)
	}
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				f.Close()
			}
			sc.Remove(tmp)
			err = s.pathErr("write", p, err)
		}
	}()
	if err := f.Chmod(perm.Perm()); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, ok := sc.HasExtension("fsync@openssh.com"); ok {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	closed = true
	if err := f.Close(); err != nil {
		return err
	}
	return sc.PosixRename(tmp, p)
}

// Remove deletes p; a missing file is not an error.
func (s *SSH) Remove(ctx context.Context, p string) error {
	return s.withContext(ctx, "remove", p, func() error {
		sc, err := s.sftpClient()
		if err != nil {
			return err
		}
		if err := sc.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return s.pathErr("remove", p, err)
		}
		return nil
	})
}

// pathErr names the host and path; sftp's "file does not exist" status
// becomes fs.ErrNotExist, and a lost connection a *TransportError.
func (s *SSH) pathErr(op, p string, err error) error {
	closed := false
	select {
	case <-s.closed:
		closed = true
	default:
	}
	if closed || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, sftp.ErrSSHFxConnectionLost) || errors.Is(err, sftp.ErrSSHFxNoConnection) {
		var te *TransportError
		if !errors.As(err, &te) {
			return &TransportError{Host: s.name, Err: fmt.Errorf("%s: %s %s: %w", s.name, op, p, err)}
		}
		return err
	}
	var se *sftp.StatusError
	if errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxNoSuchFile {
		err = fmt.Errorf("%w (%v)", fs.ErrNotExist, err)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == p {
		err = pe.Err
	}
	return fmt.Errorf("%s: %s %s: %w", s.name, op, p, err)
}
