//go:build !linux

package s3test

import (
	"errors"
	"syscall"
)

// ProcAttr returns nil: only Linux can tie a child's life to its parent.
func ProcAttr() *syscall.SysProcAttr { return nil }

// ListenPort is implemented only for Linux, where /proc tells which port the
// kernel chose for the gateway.
func ListenPort(pid int) (int, error) {
	return 0, errors.New("s3test runs versitygw on Linux only")
}
