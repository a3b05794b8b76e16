//go:build !linux

package redisstore

import (
	"context"
	"net"
)

// rawDialer is Linux only (package rawio); elsewhere dial is used as is.
func rawDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return dial
}
