package proxy

import (
	"bufio"
	"errors"
	"strconv"
)

// Chunked bodies are never relayed as they came: the agent parses each
// chunk and writes its own framing, so what the server (or the client)
// reads is exactly what the agent understood. Sizes go out in lower-case
// hex without leading zeros, chunk extensions are dropped, and trailer
// fields are checked like header fields and then dropped (a trailer could
// carry Content-Length or Host past every check made on the head).
// Framing lines end in CRLF or, as nginx and HAProxy accept, a bare LF
// (RFC 9112 2.2); a bare CR anywhere is refused: that is where parsers
// disagree.

// Bounds on what may surround the data of a chunked body.
const (
	maxLineBytes     = 4096     // one chunk-size line or trailer field
	maxTrailerBytes  = 16 << 10 // all trailer fields together
	maxTrailerFields = 32
)

// copyChunked copies one chunked body from src to dst. With rechunk the
// output is chunked, canonically framed; otherwise only the data is
// written (for an HTTP/1.0 client). limit > 0 caps the data bytes
// (errBodyTooLarge beyond it). Malformed trailer fields fail the copy,
// unless lenientTrailers (a response already on its way to the client):
// then they are dropped and errBadTrailers says the connection that
// carried them must not be reused.
func copyChunked(dst *bufio.Writer, src *bufio.Reader, rechunk bool, limit int64) error {
	return copyChunkedTrailers(dst, src, rechunk, limit, false)
}

// errBadTrailers: a chunked body ended in malformed trailer fields, which
// were dropped.
var errBadTrailers = errors.New("malformed trailer fields dropped")

func copyChunkedTrailers(dst *bufio.Writer, src *bufio.Reader, rechunk bool, limit int64, lenientTrailers bool) error {
	var sizeBuf [20]byte
	var total int64
	for {
		if _, err := fill(dst, src); err != nil {
			if _, ok := err.(*copyError); ok {
				return err
			}
			return srcErr(err)
		}
		line, err := readCRLFLine(src)
		if err != nil {
			return srcErr(err)
		}
		size, ok := parseChunkSize(line)
		if !ok {
			return srcErr(errBadFraming)
		}
		if size == 0 {
			bad, err := skipTrailers(src)
			if err != nil {
				return srcErr(err)
			}
			if bad && !lenientTrailers {
				return srcErr(errBadFraming)
			}
			if rechunk {
				if _, err := dst.WriteString("0\r\n\r\n"); err != nil {
					return dstErr(err)
				}
			}
			if bad {
				return errBadTrailers
			}
			return nil
		}
		if total += size; limit > 0 && total > limit {
			return srcErr(errBodyTooLarge)
		}
		if rechunk {
			_, _ = dst.Write(strconv.AppendInt(sizeBuf[:0], size, 16))
			if _, err := dst.WriteString("\r\n"); err != nil {
				return dstErr(err)
			}
		}
		if err := copyN(dst, src, size); err != nil {
			return err
		}
		crlf, err := readCRLFLine(src)
		if err != nil {
			return srcErr(err)
		}
		if len(crlf) != 0 {
			return srcErr(errBadFraming)
		}
		if rechunk {
			if _, err := dst.WriteString("\r\n"); err != nil {
				return dstErr(err)
			}
		}
	}
}

// skipTrailers reads the trailer section up to its blank line, checking
// every field as a header field would be checked; bad reports a field
// that failed. Too many or too large trailers are an error.
func skipTrailers(src *bufio.Reader) (bad bool, err error) {
	fields, bytes := 0, 0
	for {
		tl, err := readCRLFLine(src)
		if err != nil {
			return bad, err
		}
		if len(tl) == 0 {
			return bad, nil
		}
		if fields++; fields > maxTrailerFields {
			return bad, errBadFraming
		}
		if bytes += len(tl); bytes > maxTrailerBytes {
			return bad, errBadFraming
		}
		if !validTrailerField(tl) {
			bad = true
		}
	}
}

// validTrailerField checks "name: value" with the rules of header fields
// (no whitespace before the colon, no obs-fold, no control bytes).
func validTrailerField(line []byte) bool {
	colon := indexByte(line, ':')
	if colon <= 0 || !isToken(line[:colon]) {
		return false
	}
	return validFieldValue(trimOWS(line[colon+1:]))
}

// readCRLFLine reads one framing line ending in CRLF or a bare LF and
// returns it without the line end; a CR elsewhere in it is left for the
// caller's checks to refuse. The slice is valid until the next read from
// br. A line longer than br's buffer is collected into a new slice up to
// maxLineBytes.
func readCRLFLine(br *bufio.Reader) ([]byte, error) {
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

// parseChunkSize parses a chunk-size line: hex digits, then optionally
// chunk extensions (";" name ["=" value], with optional whitespace before
// the ";"), which are checked for control bytes and otherwise ignored.
// Leading zeros are accepted; a size of 2^60 or more is not.
func parseChunkSize(line []byte) (int64, bool) {
	i := 0
	for i < len(line) && line[i] == '0' {
		i++
	}
	zeros := i
	var n int64
	digits := 0
	for ; i < len(line); i++ {
		c := line[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			goto ext
		}
		if digits++; digits > 15 {
			return 0, false
		}
		n = n<<4 | int64(d)
	}
ext:
	if zeros+digits == 0 {
		return 0, false
	}
	rest := line[i:]
	for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
		rest = rest[1:]
	}
	if len(rest) == 0 {
		if i < len(line) {
			return 0, false // whitespace with nothing after it
		}
		return n, true
	}
	if rest[0] != ';' || !validFieldValue(rest) {
		return 0, false
	}
	return n, true
}
