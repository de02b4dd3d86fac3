package proxy

import "encoding/binary"

// What bytes may appear where in a head. A proxy that lets a byte through
// that the server behind it reads differently (a bare CR, a NUL, a control
// character) hands an attacker a second parser to play against the first;
// these checks keep every head the agent forwards unambiguous.

// validFieldValue reports whether v may be a field value (RFC 9110 5.5):
// visible ASCII, obs-text (bytes from 0x80), SP and HTAB. Any other control
// byte (NUL, a bare CR or LF, DEL...) makes the message invalid. It runs
// on every header of every request, so it checks eight bytes at a time.
func validFieldValue(v []byte) bool {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	for len(v) >= 8 {
		x := binary.LittleEndian.Uint64(v)
		// A byte below 0x20 (its high bit clear) or equal to 0x7F sets
		// the high bit of its lane; then look closer, HTAB is allowed.
		below := (x - 0x20*ones) &^ x & high
		del := x ^ 0x7F*ones
		isDel := (del - ones) &^ del & high
		if below|isDel != 0 && !validValueBytes(v[:8]) {
			return false
		}
		v = v[8:]
	}
	return validValueBytes(v)
}

func validValueBytes(v []byte) bool {
	for _, c := range v {
		if (c < 0x20 && c != '\t') || c == 0x7F {
			return false
		}
	}
	return true
}

// validTarget reports whether t may be a request target: no control byte,
// no space, no DEL, no fragment "#" (RFC 9112 3.2). Bytes from 0x80 are
// let through as nginx does; the server decides what it makes of them.
func validTarget(t []byte) bool {
	for _, c := range t {
		if c <= 0x20 || c == 0x7F || c == '#' {
			return false
		}
	}
	return len(t) > 0
}

// validReason reports whether a status line's reason phrase is HTAB, SP,
// VCHAR or obs-text (RFC 9112 4).
func validReason(r []byte) bool { return validFieldValue(r) }

// protectedField reports whether a field may not be named in Connection:
// the framing and routing fields the agent reads, and the fields it writes
// itself. A client that lists them ("Connection: Content-Length, Host")
// would otherwise make the agent drop them while it still forwards the body
// it framed with them: the body then reaches the server as a second
// request.
func protectedField(name []byte) bool {
	switch len(name) {
	case 4:
		return asciiEqualFold(name, "host")
	case 9:
		return asciiEqualFold(name, "forwarded") || asciiEqualFold(name, "x-real-ip")
	case 14:
		return asciiEqualFold(name, "content-length")
	case 15:
		return asciiEqualFold(name, "x-forwarded-for")
	case 16:
		return asciiEqualFold(name, "x-forwarded-host")
	case 17:
		return asciiEqualFold(name, "transfer-encoding") || asciiEqualFold(name, "x-forwarded-proto")
	}
	return false
}

// forwardingField reports whether name is one of the fields that say who
// the client is and how it came: the agent writes them itself from what it
// saw (and, from a trusted proxy, from what that proxy said).
func forwardingField(name []byte) bool {
	switch len(name) {
	case 9:
		return asciiEqualFold(name, "forwarded") || asciiEqualFold(name, "x-real-ip")
	case 15:
		return asciiEqualFold(name, "x-forwarded-for")
	case 16:
		return asciiEqualFold(name, "x-forwarded-host")
	case 17:
		return asciiEqualFold(name, "x-forwarded-proto")
	}
	return false
}

// hasUnderscore reports whether a field name holds "_". Such fields are
// dropped from requests, as nginx does by default (underscores_in_headers
// off): "Transfer_Encoding" or "X_Forwarded_For" would be the same field as
// the dashed one to a server that maps names to CGI-style variables.
func hasUnderscore(name []byte) bool {
	for _, c := range name {
		if c == '_' {
			return true
		}
	}
	return false
}
