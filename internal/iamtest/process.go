package iamtest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/fsxsync/fsxsync/internal/s3test"
)

const (
	// startTimeout bounds how long a server may take to answer after it is
	// started; each normally takes well under a second.
	startTimeout = 20 * time.Second
	// pollInterval is the step of the startup wait.
	pollInterval = 50 * time.Millisecond
)

// process is a server this package started, with its output in a log file.
type process struct {
	name    string
	cmd     *exec.Cmd
	exited  chan struct{} // closed once cmd has exited
	logPath string
}

// startProcess runs bin with args, its output appended to logPath, and waits
// until it listens on a TCP port (it is told to bind 127.0.0.1:0, so the
// kernel picks a free port without races) and ready(baseURL) is true. It
// returns the process and its base URL, http://127.0.0.1:PORT. env, if not
// nil, is the child's whole environment.
func startProcess(name, bin string, args, env []string, logPath string, ready func(baseURL string) bool) (*process, string, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, "", fmt.Errorf("iamtest: %w", err)
	}
	defer logFile.Close() // the child keeps its own descriptor

	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = s3test.ProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("iamtest: starting %s: %w", bin, err)
	}
	p := &process{name: name, cmd: cmd, exited: make(chan struct{}), logPath: logPath}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()

	port := 0
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return nil, "", p.failure("exited during startup (" + cmd.ProcessState.String() + ")")
		default:
		}
		if port == 0 {
			if port, err = s3test.ListenPort(cmd.Process.Pid); err != nil {
				p.kill()
				return nil, "", fmt.Errorf("iamtest: finding the port of %s: %w", name, err)
			}
		}
		if port != 0 {
			baseURL := fmt.Sprintf("http://127.0.0.1:%d", port)
			if ready(baseURL) {
				return p, baseURL, nil
			}
		}
		time.Sleep(pollInterval)
	}
	p.kill()
	return nil, "", p.failure(fmt.Sprintf("did not answer within %v", startTimeout))
}

// failure describes a failed start, with the process's log.
func (p *process) failure(msg string) error {
	log, _ := os.ReadFile(p.logPath)
	return fmt.Errorf("iamtest: %s %s; its log %s:\n%s", p.name, msg, p.logPath, log)
}

// kill stops the process at once and waits for it: the servers keep nothing
// worth a graceful stop, and a graceful stop waits for idle keep-alive
// connections.
func (p *process) kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

// answers200 reports whether GET url answers 200 OK within a second.
func answers200(url string) bool {
	client := &http.Client{Timeout: time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// environWithout returns os.Environ() without the variables whose names start
// with prefix, so the caller's environment cannot reconfigure a child.
func environWithout(prefix string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			env = append(env, kv)
		}
	}
	return env
}

// randomHex returns 2n random hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand documents this since Go 1.24)
	return hex.EncodeToString(b)
}
