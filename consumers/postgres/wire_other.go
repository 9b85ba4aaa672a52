//go:build !linux

package postgres

import "net"

// batchedReads is Linux's (SO_RCVLOWAT with blocking reads); elsewhere reads go through Go's poller.
func batchedReads(net.Conn) (read func([]byte) (int, error), stop func(), ok bool) {
	return nil, nil, false
}
