package agent

import (
	"crypto/tls"
	"errors"
	"io"
	"net"

	"golang.org/x/net/http2/hpack"
)

// h2Guard sits between a TLS connection and the HTTP/2 server and reads
// the client's frames once before the server does, for the two checks
// x/net/http2 gets wrong:
//
//   - A request with a connection-specific field (Connection, Keep-Alive,
//     Proxy-Connection, Transfer-Encoding, Upgrade) or a TE other than
//     "trailers" is malformed (RFC 9113 8.2.2) and must fail with
//     PROTOCOL_ERROR; x/net answers it with a 400 instead, which tells
//     the client its request was read. The guard ends the connection.
//   - A SETTINGS frame may repeat a setting; the values apply in order
//     (RFC 9113 6.5.3), which is the same as applying the last one. x/net
//     refuses the whole connection; the guard keeps the last valid value
//     of each setting.
//
// Everything else passes through untouched: DATA frames are not copied
// twice, and frames the guard cannot read (too large, a header block it
// cannot decode) stop the inspection so that the server sees them as sent
// and answers with its own error.
type h2Guard struct {
	net.Conn
	tls *tls.Conn

	pending []byte // frame bytes ready for the server
	frame   []byte // scratch for one frame
	preface int    // client preface bytes still to pass
	pass    int    // payload bytes of the current frame passing untouched
	off     bool   // inspection stopped: everything passes
	dec     *hpack.Decoder
	bad     string // the violation found in the current header block
}

// h2MaxFrame is the largest frame the server accepts (SETTINGS_MAX_FRAME_SIZE,
// the protocol's initial value).
const h2MaxFrame = 16384

const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

var errH2Malformed = errors.New("http2: malformed request (connection-specific field)")

func newH2Guard(tc *tls.Conn, maxHeaderBytes int) *h2Guard {
	g := &h2Guard{Conn: tc, tls: tc, preface: len(h2Preface)}
	// The same dynamic table limit as the server's decoder (4096, the
	// protocol default, which x/net keeps), so both stay in step.
	g.dec = hpack.NewDecoder(4096, g.field)
	g.dec.SetMaxStringLength(maxHeaderBytes)
	return g
}

// ConnectionState lets the HTTP/2 server see the TLS state through the
// guard.
func (g *h2Guard) ConnectionState() tls.ConnectionState { return g.tls.ConnectionState() }

func (g *h2Guard) field(f hpack.HeaderField) {
	switch f.Name {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		g.bad = f.Name
	case "te":
		if f.Value != "trailers" {
			g.bad = "te"
		}
	}
}

func (g *h2Guard) Read(p []byte) (int, error) {
	if len(g.pending) > 0 {
		n := copy(p, g.pending)
		g.pending = g.pending[n:]
		return n, nil
	}
	if g.off || g.preface > 0 || g.pass > 0 {
		lim := len(p)
		switch {
		case g.off:
		case g.preface > 0:
			lim = min(lim, g.preface)
		default:
			lim = min(lim, g.pass)
		}
		n, err := g.Conn.Read(p[:lim])
		switch {
		case g.off:
		case g.preface > 0:
			g.preface -= n
		default:
			g.pass -= n
		}
		return n, err
	}
	var hdr [9]byte
	if n, err := io.ReadFull(g.Conn, hdr[:]); err != nil {
		// Hand the server what there is; it sees the error next.
		g.pending = append(g.pending[:0], hdr[:n]...)
		g.off = true
		if n > 0 {
			return g.Read(p)
		}
		return 0, err
	}
	length := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
	typ, flags := hdr[3], hdr[4]
	inspect := typ == 0x1 || typ == 0x9 || (typ == 0x4 && flags&0x1 == 0)
	if !inspect || length > h2MaxFrame {
		g.off = g.off || inspect // the server ends the connection over it
		g.pending = append(g.frame[:0], hdr[:]...)
		g.pass = length
		return g.Read(p)
	}
	if need := 9 + length; cap(g.frame) < need {
		g.frame = make([]byte, need, 9+h2MaxFrame)
	}
	g.frame = g.frame[:9+length]
	copy(g.frame, hdr[:])
	if n, err := io.ReadFull(g.Conn, g.frame[9:]); err != nil {
		g.pending = g.frame[:9+n]
		g.off = true
		return g.Read(p)
	}
	switch typ {
	case 0x4:
		g.frame = dedupeSettings(g.frame)
	case 0x1, 0x9:
		if err := g.headerBlock(typ, flags, g.frame[9:]); err != nil {
			return 0, err
		}
	}
	g.pending = g.frame
	return g.Read(p)
}

// headerBlock feeds one HEADERS or CONTINUATION payload to the decoder
// and fails on a malformed request once the block is complete.
func (g *h2Guard) headerBlock(typ, flags byte, payload []byte) error {
	frag := payload
	if typ == 0x1 {
		if flags&0x8 != 0 { // PADDED
			if len(frag) < 1 || int(frag[0]) > len(frag)-1 {
				g.off = true
				return nil
			}
			frag = frag[1 : len(frag)-int(frag[0])]
		}
		if flags&0x20 != 0 { // PRIORITY
			if len(frag) < 5 {
				g.off = true
				return nil
			}
			frag = frag[5:]
		}
	}
	if _, err := g.dec.Write(frag); err != nil {
		g.off = true // the server's own decoder will fail the same way
		return nil
	}
	if flags&0x4 == 0 { // not END_HEADERS yet
		return nil
	}
	if err := g.dec.Close(); err != nil {
		g.off = true
		return nil
	}
	if g.bad != "" {
		g.bad = ""
		return errH2Malformed
	}
	return nil
}

// dedupeSettings rewrites a SETTINGS frame so that each setting appears
// once, with its last value. An earlier value that is invalid is kept, so
// the server still answers it with its error.
func dedupeSettings(frame []byte) []byte {
	payload := frame[9:]
	if len(payload)%6 != 0 || len(payload) == 0 {
		return frame
	}
	n := len(payload) / 6
	id := func(i int) uint16 { return uint16(payload[6*i])<<8 | uint16(payload[6*i+1]) }
	val := func(i int) uint32 {
		return uint32(payload[6*i+2])<<24 | uint32(payload[6*i+3])<<16 | uint32(payload[6*i+4])<<8 | uint32(payload[6*i+5])
	}
	keep := make([]bool, n)
	dup := false
	for i := 0; i < n; i++ {
		keep[i] = true
		for j := i + 1; j < n; j++ {
			if id(j) == id(i) && validSetting(id(i), val(i)) {
				keep[i], dup = false, true
				break
			}
		}
	}
	if !dup {
		return frame
	}
	out := append([]byte(nil), frame[:9]...)
	for i := 0; i < n; i++ {
		if keep[i] {
			out = append(out, payload[6*i:6*i+6]...)
		}
	}
	l := len(out) - 9
	out[0], out[1], out[2] = byte(l>>16), byte(l>>8), byte(l)
	return out
}

// validSetting reports whether a setting's value is within the protocol's
// range (RFC 9113 6.5.2).
func validSetting(id uint16, v uint32) bool {
	switch id {
	case 0x2: // ENABLE_PUSH
		return v <= 1
	case 0x4: // INITIAL_WINDOW_SIZE
		return v <= 1<<31-1
	case 0x5: // MAX_FRAME_SIZE
		return v >= 16384 && v <= 1<<24-1
	}
	return true
}
