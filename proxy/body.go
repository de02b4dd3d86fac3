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

// copyChunked copies one chunked body. With raw set the chunk framing (and
// trailers) pass through unchanged; otherwise only the data is written (for
// an HTTP/1.0 client).
func copyChunked(dst *bufio.Writer, src *bufio.Reader, raw bool) error {
	for {
		if _, err := fill(dst, src); err != nil {
			if _, ok := err.(*copyError); ok {
				return err
			}
			return srcErr(err)
		}
		line, err := readLine(src)
		if err != nil {
			return srcErr(err)
		}
		size, ok := parseChunkSize(line)
		if !ok {
			return srcErr(errBadFraming)
		}
		if raw {
			_, _ = dst.Write(line)
			if _, err := dst.WriteString("\r\n"); err != nil {
				return dstErr(err)
			}
		}
		if size == 0 {
			// Trailers up to the blank line.
			for {
				tl, err := readLine(src)
				if err != nil {
					return srcErr(err)
				}
				if raw {
					_, _ = dst.Write(tl)
					if _, err := dst.WriteString("\r\n"); err != nil {
						return dstErr(err)
					}
				}
				if len(tl) == 0 {
					return nil
				}
			}
		}
		if err := copyN(dst, src, size); err != nil {
			return err
		}
		crlf, err := readLine(src)
		if err != nil {
			return srcErr(err)
		}
		if len(crlf) != 0 {
			return srcErr(errBadFraming)
		}
		if raw {
			if _, err := dst.WriteString("\r\n"); err != nil {
				return dstErr(err)
			}
		}
	}
}

// maxLineBytes bounds a chunk-size or trailer line.
const maxLineBytes = 4096

// readLine reads one line without its CRLF. The slice is valid until the
// next read from br. A line longer than br's buffer (a huge chunk
// extension) is collected into a new slice up to maxLineBytes.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		long := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull && len(long) <= maxLineBytes {
			line, err = br.ReadSlice('\n')
			long = append(long, line...)
		}
		if len(long) > maxLineBytes {
			return nil, errBadFraming
		}
		line = long
	}
	if err != nil {
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// parseChunkSize parses "1a;ext=x" → 26.
func parseChunkSize(line []byte) (int64, bool) {
	if i := indexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = trimOWS(line)
	if len(line) == 0 || len(line) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range line {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, true
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
