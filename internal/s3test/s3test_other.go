//go:build !linux

package s3test

import (
	"errors"
	"syscall"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

// listenPort is implemented only for Linux, where /proc tells which port the
// kernel chose for the gateway.
func listenPort(pid int) (int, error) {
	return 0, errors.New("s3test runs versitygw on Linux only")
}
