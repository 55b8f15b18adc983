package s3test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ProcAttr makes the kernel kill a server started with it when the test binary
// dies without stopping it (a panic, a -timeout), so no server outlives its test.
// Strictly the signal follows the OS thread that started it, but the Go
// runtime only ends threads that a goroutine left locked, which the tests
// using this package do not do.
func ProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// ListenPort returns the TCP port that process pid listens on, or 0 if it
// does not listen yet (the first one if it listens on several). versitygw
// binds 127.0.0.1:0 and does not print the port, so match the process's
// socket inodes against /proc/PID/net/tcp.
func ListenPort(pid int) (int, error) {
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(fdDir)
	if err != nil {
		return 0, nil // exited or not yet started; the caller checks which
	}
	inodes := make(map[string]bool)
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
		if err != nil {
			continue
		}
		if inode, ok := strings.CutPrefix(link, "socket:["); ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	if len(inodes) == 0 {
		return 0, nil
	}

	f, err := os.Open(fmt.Sprintf("/proc/%d/net/tcp", pid))
	if err != nil {
		return 0, nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
		fields := strings.Fields(sc.Text())
		const listen = "0A"
		if len(fields) < 10 || fields[3] != listen || !inodes[fields[9]] {
			continue
		}
		_, hexPort, _ := strings.Cut(fields[1], ":")
		port, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil {
			return 0, fmt.Errorf("parsing %q in /proc/%d/net/tcp: %w", fields[1], pid, err)
		}
		return int(port), nil
	}
	return 0, sc.Err()
}
