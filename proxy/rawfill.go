package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// lazyReader gives a connection's read buffer back to its pool while
// nothing is buffered, and takes it again only once the socket is
// readable: a connection waiting for a client's next request, or for an
// upstream's response, holds no buffer. A bufio.Reader is 8-16 KiB; at
// 1,024 connections that is most of the agent's memory.
//
// The wait is syscall.RawConn.Read: the same netpoller wait, deadlines
// included, and the same read system calls as net.Conn.Read (one that
// finds nothing, then one that reads), with the buffer taken in between.
// Connections that are not a plain socket (TLS, the pipes HTTP/2 streams
// are bridged through) keep their buffer.
type lazyReader struct {
	br   **bufio.Reader // the owner's reader field
	pool *sync.Pool
	src  io.Reader       // what the reader reads from
	raw  syscall.RawConn // nil: the buffer is never given back
	fd   int             // >= 0 while wait reads the socket directly
	err  error           // what the read in wait ended with
	try  func(uintptr) bool
}

// errWouldBlock is the raw read's EAGAIN, which ends a wait attempt.
var errWouldBlock = errors.New("read would block")

// init sets l up for c; c is used raw only when plain is set (the caller
// knows c buffers nothing of its own, as a TLS connection would).
func (l *lazyReader) init(br **bufio.Reader, pool *sync.Pool, src io.Reader, c net.Conn, plain bool) {
	l.br, l.pool, l.src, l.raw, l.fd, l.err = br, pool, src, nil, -1, nil
	if l.try == nil {
		l.try = l.attempt
	}
	if sc, ok := c.(syscall.Conn); ok && plain {
		l.raw, _ = sc.SyscallConn()
	}
	if l.raw == nil {
		l.take()
	}
}

// take gets a reader from the pool unless one is held.
func (l *lazyReader) take() {
	if *l.br == nil {
		*l.br = l.pool.Get().(*bufio.Reader)
		(*l.br).Reset(l.src)
	}
}

// release gives the reader back when the buffer is not needed: the
// connection is a plain socket and nothing is buffered.
func (l *lazyReader) release() {
	if l.raw != nil && *l.br != nil && (*l.br).Buffered() == 0 {
		l.drop()
	}
}

// drop gives the reader back whatever it holds (the connection closes).
func (l *lazyReader) drop() {
	if l.br != nil && *l.br != nil {
		(*l.br).Reset(nil)
		l.pool.Put(*l.br)
		*l.br = nil
	}
}

// buffered is the number of bytes in the reader (0 without one).
func (l *lazyReader) buffered() int {
	if l.br == nil || *l.br == nil {
		return 0
	}
	return (*l.br).Buffered()
}

// wait blocks until the socket has bytes (or fails), then holds a reader
// with at least one byte in it. It returns at once when a reader is held.
func (l *lazyReader) wait() error {
	if *l.br != nil {
		return nil
	}
	l.err = nil
	if err := l.raw.Read(l.try); err != nil {
		return err
	}
	return l.err
}

// attempt is one RawConn.Read try: take the reader and fill it with one
// non-blocking read; on EAGAIN give it back and wait for readability.
func (l *lazyReader) attempt(fd uintptr) bool {
	l.take()
	l.fd = int(fd)
	_, err := (*l.br).Peek(1)
	l.fd = -1
	if err == errWouldBlock {
		l.drop()
		return false
	}
	l.err = err
	return true
}

// readRaw is the source's Read while wait fills the reader: one read(2) on
// the non-blocking socket.
func (l *lazyReader) readRaw(p []byte) (int, error) {
	for {
		n, err := syscall.Read(l.fd, p)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, errWouldBlock
		case err != nil:
			return 0, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", err)}
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}
