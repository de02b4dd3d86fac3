//go:build linux

package proxy

import (
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The event-loop engine serves plain HTTP/1.1 client connections from a
// few goroutines, each with its own edge-triggered epoll set, instead of a
// goroutine per connection parked in Go's netpoller. What it saves per
// request is what the profile of the goroutine engine spends beyond the
// four system calls a request needs (receive the request, send it
// upstream, receive the response, send it back): the read that finds
// nothing before each wait (a short read drains an edge-triggered socket,
// so the loop never makes it), the goroutine park and wake-up, and the
// netpoller's own polls.
//
// The loop serves the common exchange whole: a request without a body,
// routed to a plain-HTTP upstream, answered with a Content-Length (or
// empty) body of at most loopMaxBody, or answered by the agent itself.
// Everything else is handed to the goroutine engine with the bytes read so
// far, at the first point the loop sees it (handoff.go): a request with a
// body or an Upgrade, an upstream over TLS or held by a pause, a response
// that is chunked, close-delimited or larger. A handed-over connection
// stays with the goroutine engine. Failover, retries, the stale-connection
// replay, passive health, timeouts, drain and the metrics and access log
// follow the goroutine engine's rules (forward.go, timeouts.go).

// loopMaxBody is the largest response body a loop buffers whole; a larger
// one is streamed by the goroutine engine.
const loopMaxBody = 64 << 10

// loopBufSize is the read buffer a connection holds while bytes wait in it.
const loopBufSize = 4 << 10

// How a loop waits, chosen so that Go's scheduler leaves it alone. The
// runtime's monitor thread (sysmon) takes the P back from a goroutine that
// has run 10 ms on one scheduling tick, or that sits in a system call
// while no P is idle, and after each such take polls every 20 µs again:
// a loop blocking in epoll_wait under load made it wake about 7,000 times
// a second and hand Ps between threads (twice HAProxy's context switches,
// and as much CPU per request). So a loop with work blocks in epoll_wait
// for at most loopBusyWait, passes through the scheduler every loopYield
// (a Gosched: the tick moves), and runs with a P to spare (the agent sets
// GOMAXPROCS one above the loops). A loop with nothing to do for
// loopBusyWait parks its goroutine in Go's poller instead (park), and no
// thread is held at all.
const (
	loopBusyWait  = 5 // ms
	loopYield     = 4 * time.Millisecond
	loopSweepTick = 100 * time.Millisecond
)

// loopSet is the handler's event loops.
type loopSet struct {
	loops []*evLoop
	mu    sync.Mutex
	next  int
}

// EnableLoops makes ServePlain hand plain connections to n event loops
// (n <= 0: one per GOMAXPROCS). Call it before serving. Each loop keeps a P
// while it has work: run with GOMAXPROCS above n, so that one is left for
// the rest of the program (the agent sets n+1).
func (h *Handler) EnableLoops(n int) error {
	if h.loops != nil {
		return nil
	}
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	ls := &loopSet{}
	for i := 0; i < n; i++ {
		l, err := newEvLoop(h)
		if err != nil {
			for _, l := range ls.loops {
				l.stop()
			}
			return err
		}
		ls.loops = append(ls.loops, l)
	}
	for _, l := range ls.loops {
		go l.run()
	}
	h.nowNS() // the sweeper times connections handed to the goroutine engine
	h.loops = ls
	return nil
}

// StopLoops closes every connection the event loops hold and ends them.
func (h *Handler) StopLoops() {
	if h.loops == nil {
		return
	}
	for _, l := range h.loops.loops {
		l.stop()
	}
}

// serve hands c to a loop; false when c is not a socket the loop can take.
func (ls *loopSet) serve(h *Handler, c net.Conn) bool {
	var release func()
	inner := c
	if d, ok := c.(SocketDetacher); ok {
		inner, release = d.DetachSocket()
	}
	fd := dupSocket(inner)
	if fd < 0 {
		return false
	}
	peer, remote := remoteIP(inner)
	// Go's poller forgets the socket; the loop's duplicate keeps it open.
	_ = inner.Close()
	ls.mu.Lock()
	l := ls.loops[ls.next%len(ls.loops)]
	ls.next++
	ls.mu.Unlock()
	h.conns.Add(1)
	l.add(newLoopClient{fd: fd, release: release, peer: peer, remote: remote})
	return true
}

type newLoopClient struct {
	fd      int
	release func()
	peer    netip.Addr
	remote  string
}

// loopFD is what owns a file descriptor on a loop.
type loopFD interface {
	onEvent(ev uint32)
}

type fdSlot struct {
	owner loopFD
	gen   int32 // matches the registration's event data: a late event for a closed fd is dropped
}

type evLoop struct {
	h      *Handler
	epfd   int
	wakefd int
	ep     *os.File        // a duplicate of epfd in Go's poller while the loop is idle
	eprc   syscall.RawConn // ep's

	mu      sync.Mutex
	pending []newLoopClient
	stopped bool

	fds     []fdSlot
	gen     int32
	clients map[*lclient]struct{}
	idle    map[*Peer][]*lup
	addrs   map[string]unix.Sockaddr
	free    [][]byte // read buffers to reuse
	nowNS   int64
	swept   int64
	done    bool
}

func newEvLoop(h *Handler) (*evLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	l := &evLoop{h: h, epfd: epfd, wakefd: wfd, clients: map[*lclient]struct{}{},
		idle: map[*Peer][]*lup{}, addrs: map[string]unix.Sockaddr{}}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wfd), Pad: -1}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wfd, &ev); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(wfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return l, nil
}

// add queues a connection for the loop and wakes it.
func (l *evLoop) add(nc newLoopClient) {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		_ = unix.Close(nc.fd)
		l.h.conns.Add(-1)
		if nc.release != nil {
			nc.release()
		}
		return
	}
	l.pending = append(l.pending, nc)
	l.mu.Unlock()
	l.wake()
}

func (l *evLoop) wake() {
	one := [8]byte{1}
	_, _ = unix.Write(l.wakefd, one[:])
}

func (l *evLoop) stop() {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
	l.wake()
}

// register adds fd to the epoll set for input and output, edge-triggered.
func (l *evLoop) register(fd int, owner loopFD) error {
	for fd >= len(l.fds) {
		l.fds = append(l.fds, fdSlot{})
	}
	l.gen++
	l.fds[fd] = fdSlot{owner: owner, gen: l.gen}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd), Pad: l.gen}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		l.fds[fd] = fdSlot{}
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// forget removes fd from the loop without closing it.
func (l *evLoop) forget(fd int) {
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	if fd < len(l.fds) {
		l.fds[fd] = fdSlot{}
	}
}

// closeFD removes fd from the loop and closes it.
func (l *evLoop) closeFD(fd int) {
	if fd < len(l.fds) {
		l.fds[fd] = fdSlot{}
	}
	_ = unix.Close(fd) // the only reference: this leaves the epoll set too
}

// getBuf returns an empty read buffer of loopBufSize.
func (l *evLoop) getBuf() []byte {
	if n := len(l.free); n > 0 {
		b := l.free[n-1]
		l.free = l.free[:n-1]
		return b
	}
	return make([]byte, 0, loopBufSize)
}

// putBuf keeps an emptied buffer of the usual size for reuse.
func (l *evLoop) putBuf(b []byte) {
	if cap(b) == loopBufSize && len(l.free) < 256 {
		l.free = append(l.free, b[:0])
	}
}

func (l *evLoop) run() {
	events := make([]unix.EpollEvent, 128)
	l.nowNS = time.Now().UnixNano()
	l.swept = l.nowNS
	yielded := l.nowNS
	for !l.done {
		if l.nowNS-yielded >= int64(loopYield) {
			runtime.Gosched()
			yielded = l.nowNS
		}
		n, err := unix.EpollWait(l.epfd, events, loopBusyWait)
		if n == 0 && err == nil {
			n, err = l.park(events)
		}
		l.nowNS = time.Now().UnixNano()
		if err != nil && err != unix.EINTR {
			break
		}
		for i := 0; i < n; i++ {
			ev := &events[i]
			fd := int(ev.Fd)
			if fd == l.wakefd {
				l.accept()
				continue
			}
			if fd < len(l.fds) && l.fds[fd].owner != nil && l.fds[fd].gen == ev.Pad {
				l.fds[fd].owner.onEvent(ev.Events)
			}
		}
		if l.nowNS-l.swept >= int64(loopSweepTick) {
			l.swept = l.nowNS
			l.sweep()
		}
	}
	l.shutdown()
}

// park waits, with the goroutine parked in Go's poller, until the epoll
// set has events or the next sweep is due (n 0). The set joins the poller
// (as a duplicate descriptor) when the loop goes idle and leaves it when
// events come: while it is a member, every event on any of the loop's
// sockets would also wake the runtime's own poller.
func (l *evLoop) park(events []unix.EpollEvent) (n int, err error) {
	if l.ep == nil {
		fd, derr := unix.FcntlInt(uintptr(l.epfd), unix.F_DUPFD_CLOEXEC, 0)
		if derr != nil {
			return 0, nil // the loop goes on waiting loopBusyWait at a time
		}
		_ = unix.SetNonblock(fd, true)
		ep := os.NewFile(uintptr(fd), "epoll")
		rc, rerr := ep.SyscallConn()
		if rerr != nil {
			_ = ep.Close()
			return 0, nil
		}
		l.ep, l.eprc = ep, rc
	}
	_ = l.ep.SetReadDeadline(time.Unix(0, l.swept+int64(loopSweepTick)))
	rerr := l.eprc.Read(func(uintptr) bool {
		for {
			n, err = unix.EpollWait(l.epfd, events, 0)
			if err != unix.EINTR {
				return n > 0 || err != nil
			}
		}
	})
	if rerr != nil {
		return 0, nil // the sweep is due
	}
	l.leavePoller()
	return n, err
}

// leavePoller takes the epoll set out of Go's poller.
func (l *evLoop) leavePoller() {
	if l.ep != nil {
		_ = l.ep.Close()
		l.ep, l.eprc = nil, nil
	}
}

// accept takes the queued connections (and notices stop).
func (l *evLoop) accept() {
	var b [8]byte
	_, _ = unix.Read(l.wakefd, b[:])
	l.mu.Lock()
	pending := l.pending
	l.pending = nil
	stopped := l.stopped
	l.mu.Unlock()
	for _, nc := range pending {
		c := &lclient{l: l, fd: nc.fd, release: nc.release, first: true, idleSince: l.nowNS}
		c.cc = clientConnPool.Get().(*clientConn)
		c.cc.h, c.cc.tls, c.cc.peer, c.cc.remote = l.h, false, nc.peer, nc.remote
		if err := l.register(nc.fd, c); err != nil {
			_ = unix.Close(nc.fd)
			c.fd = -1
			c.closeNow()
			continue
		}
		l.clients[c] = struct{}{}
	}
	if stopped {
		l.done = true
	}
}

// shutdown closes everything the loop holds.
func (l *evLoop) shutdown() {
	for c := range l.clients {
		c.close()
	}
	for _, s := range l.idle {
		for _, up := range s {
			up.close()
		}
	}
	l.idle = nil
	l.leavePoller()
	_ = unix.Close(l.epfd)
	_ = unix.Close(l.wakefd)
}

// sweep applies the client timeouts (limits:), the upstream deadlines and
// the drain, and closes idle upstream connections past their time.
func (l *evLoop) sweep() {
	now := l.nowNS
	lim := &l.h.table.Load().limits
	draining := l.h.draining.Load()
	for c := range l.clients {
		c.checkTimeouts(now, lim, draining)
	}
	for p, s := range l.idle {
		keep := s[:0]
		surplus := len(s)
		if len(s) > 0 {
			surplus -= s[0].u.keepalive
		}
		for i, up := range s {
			if up.closed || up.u.closed.Load() || reapable(i, surplus, time.Duration(now-up.idleSince), up.u.keepaliveTO) {
				up.close()
				continue
			}
			keep = append(keep, up)
		}
		for i := len(keep); i < len(s); i++ {
			s[i] = nil
		}
		if len(keep) == 0 {
			delete(l.idle, p)
		} else {
			l.idle[p] = keep
		}
	}
}

// idleGet pops the newest usable idle connection to p.
func (l *evLoop) idleGet(p *Peer, u *Upstream) *lup {
	s := l.idle[p]
	for n := len(s); n > 0; n = len(s) {
		up := s[n-1]
		s[n-1] = nil
		s = s[:n-1]
		l.idle[p] = s
		if up.closed {
			continue
		}
		if time.Duration(l.nowNS-up.idleSince) > up.u.keepaliveTO || (up.verify && up.peerSent()) {
			up.close()
			continue
		}
		return up
	}
	return l.adopt(p, u)
}

// adopt takes an idle connection to p from the goroutine engine's pool
// (one it used for a handed-over request): a duplicate of its socket joins
// the loop, saving a connect.
func (l *evLoop) adopt(p *Peer, u *Upstream) *lup {
	for {
		uc := p.idle.get(time.Now(), u.keepaliveTO)
		if uc == nil {
			return nil
		}
		var nc any = uc.Conn
		if pc, ok := nc.(*prefixConn); ok {
			nc = pc.Conn
		}
		if rc, ok := nc.(*releaseConn); ok {
			nc = rc.Conn
		}
		fd := dupSocket(nc)
		uc.close()
		if fd < 0 {
			continue
		}
		up := &lup{l: l, fd: fd, p: p, u: u, reused: true, verify: true}
		if up.peerSent() || l.register(fd, up) != nil {
			_ = unix.Close(fd)
			continue
		}
		return up
	}
}

// idlePut keeps up for reuse, within the pool's keepalive plus surplus.
func (l *evLoop) idlePut(up *lup) {
	s := l.idle[up.p]
	if len(s) >= up.u.keepalive+maxSurplus {
		up.close()
		return
	}
	up.idleSince = l.nowNS
	up.reused = true
	l.idle[up.p] = append(s, up)
}

// sockaddr is p's address for connect(2), parsed once per loop.
func (l *evLoop) sockaddr(addr string) (unix.Sockaddr, int, error) {
	sa, ok := l.addrs[addr]
	if !ok {
		ap, err := netip.ParseAddrPort(addr)
		if err != nil {
			// Peers are IP:port (agentconfig validates it); a name is
			// resolved by the dialer of the goroutine engine.
			tcp, err := net.ResolveTCPAddr("tcp", addr)
			if err != nil {
				return nil, 0, err
			}
			ap = tcp.AddrPort()
		}
		a := ap.Addr().Unmap()
		if a.Is4() {
			sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}
		} else {
			sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
		}
		l.addrs[addr] = sa
	}
	if _, v4 := sa.(*unix.SockaddrInet4); v4 {
		return sa, unix.AF_INET, nil
	}
	return sa, unix.AF_INET6, nil
}

// dial starts a non-blocking connect to p.
func (l *evLoop) dial(p *Peer, u *Upstream) (*lup, error) {
	sa, family, err := l.sockaddr(p.Addr)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 30)
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 30)
	err = unix.Connect(fd, sa)
	if err != nil && err != unix.EINPROGRESS {
		_ = unix.Close(fd)
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)}
	}
	up := &lup{l: l, fd: fd, p: p, u: u, connecting: err == unix.EINPROGRESS}
	if err := l.register(fd, up); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	return up, nil
}

// dupSocket duplicates the socket of c (close-on-exec), or returns -1 when
// c is not a socket.
func dupSocket(c any) int {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	_ = rc.Control(func(s uintptr) {
		if fd, err = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0); err != nil {
			fd = -1
		}
	})
	return fd
}

// fdConn turns a loop's socket into a net.Conn for the goroutine engine
// (a duplicate in Go's poller; fd itself is closed).
func fdConn(fd int, name string) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), name)
	c, err := net.FileConn(f)
	_ = f.Close()
	return c, err
}

// readFD reads what fd has into *buf (taking a buffer from l when it has
// none) until a short read drains the socket, the peer closed (eof) or
// failed (err), or the buffer holds max bytes: then full says the socket
// may hold more, and no new edge will say so.
func (l *evLoop) readFD(fd int, buf *[]byte, max int) (full, eof bool, err error) {
	for {
		b := *buf
		if b == nil {
			b = l.getBuf()
		}
		if cap(b)-len(b) < 512 {
			if len(b) >= max {
				*buf = b
				return true, false, nil
			}
			nb := make([]byte, len(b), min(2*cap(b), max+loopBufSize))
			copy(nb, b)
			b = nb
		}
		room := b[len(b):cap(b)]
		n, rerr := recvFD(fd, room)
		switch {
		case rerr == unix.EINTR:
			*buf = b
			continue
		case rerr == unix.EAGAIN:
			n = 0
		case rerr != nil:
			*buf = l.keepBuf(b)
			return false, false, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", rerr)}
		case n == 0:
			*buf = l.keepBuf(b)
			return false, true, nil
		}
		b = b[:len(b)+n]
		*buf = l.keepBuf(b)
		if n < len(room) {
			return false, false, nil // short read or EAGAIN: drained
		}
	}
}

// keepBuf returns b, or nil (b back to the free list) when it is empty.
func (l *evLoop) keepBuf(b []byte) []byte {
	if len(b) == 0 {
		l.putBuf(b)
		return nil
	}
	return b
}

// writeFD writes as much of b as the socket takes; n is what was written.
func writeFD(fd int, b []byte) (n int, err error) {
	for n < len(b) {
		m, werr := sendFD(fd, b[n:])
		switch {
		case werr == unix.EINTR:
			continue
		case werr == unix.EAGAIN:
			return n, nil
		case werr != nil:
			return n, &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", werr)}
		}
		n += m
	}
	return n, nil
}

// recvFD and sendFD are recv(2) and send(2): on a socket they skip the
// file layer read(2) and write(2) go through.
func recvFD(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func sendFD(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), unix.MSG_NOSIGNAL, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
