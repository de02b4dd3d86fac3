//go:build !linux

package proxy

import (
	"errors"
	"net"
)

// loopSet is empty where there is no epoll: every connection gets a
// goroutine.
type loopSet struct{}

func (ls *loopSet) serve(*Handler, net.Conn) bool { return false }

// EnableLoops reports that event loops need Linux.
func (h *Handler) EnableLoops(n int) error {
	return errors.New("the event-loop engine needs Linux (epoll)")
}

// StopLoops does nothing here.
func (h *Handler) StopLoops() {}
