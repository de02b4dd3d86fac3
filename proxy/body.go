package proxy

import (
	"bufio"
	"errors"
	"io"
	"strconv"
)

// Body copying. Every copier flushes dst before it would block on src, so
// data reaches the other side as soon as it arrives (SSE event by event)
// while back-to-back data still goes out in one write.

// errSrc and errDst tell which side of a copy failed.
type copyError struct {
	src bool
	err error
}

func (e *copyError) Error() string { return e.err.Error() }
func (e *copyError) Unwrap() error { return e.err }

func srcErr(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return &copyError{src: true, err: err}
}
func dstErr(err error) error { return &copyError{src: false, err: err} }

// isSrcError reports whether a copy failed reading (rather than writing).
func isSrcError(err error) bool {
	var ce *copyError
	return errors.As(err, &ce) && ce.src
}

// fill makes at least one byte available in src, flushing dst first when
// src would block.
func fill(dst *bufio.Writer, src *bufio.Reader) (int, error) {
	if n := src.Buffered(); n > 0 {
		return n, nil
	}
	if dst.Buffered() > 0 {
		if err := dst.Flush(); err != nil {
			return 0, dstErr(err)
		}
	}
	if _, err := src.Peek(1); err != nil {
		return 0, err
	}
	return src.Buffered(), nil
}

// copyN copies exactly n bytes.
func copyN(dst *bufio.Writer, src *bufio.Reader, n int64) error {
	for n > 0 {
		avail, err := fill(dst, src)
		if err != nil {
			if _, ok := err.(*copyError); ok {
				return err
			}
			return srcErr(err)
		}
		if int64(avail) > n {
			avail = int(n)
		}
		b, _ := src.Peek(avail)
		if _, err := dst.Write(b); err != nil {
			return dstErr(err)
		}
		_, _ = src.Discard(avail)
		n -= int64(avail)
	}
	return nil
}

// copyToEOF copies until src ends; with chunk set it frames the data as
// chunked encoding (for a close-delimited upstream body sent to an HTTP/1.1
// client whose connection we keep).
func copyToEOF(dst *bufio.Writer, src *bufio.Reader, chunk bool) error {
	var sizeBuf [20]byte
	for {
		avail, err := fill(dst, src)
		if err == io.EOF {
			break
		}
		if err != nil {
			if _, ok := err.(*copyError); ok {
				return err
			}
			return srcErr(err)
		}
		b, _ := src.Peek(avail)
		if chunk {
			_, _ = dst.Write(strconv.AppendInt(sizeBuf[:0], int64(len(b)), 16))
			_, _ = dst.WriteString("\r\n")
		}
		if _, err := dst.Write(b); err != nil {
			return dstErr(err)
		}
		if chunk {
			_, _ = dst.WriteString("\r\n")
		}
		_, _ = src.Discard(avail)
	}
	if chunk {
		if _, err := dst.WriteString("0\r\n\r\n"); err != nil {
			return dstErr(err)
		}
	}
	return nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
