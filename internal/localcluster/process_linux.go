package localcluster

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel kill the process when the runner's
// process dies, so that a crashed or interrupted test leaves no server
// behind holding its ports. The kernel ties the signal to the OS thread
// that forked. The Go runtime keeps that thread alive unless a goroutine
// exits while locked to it, which nothing in this package does.
//
// The process also gets its own process group, so that Ctrl-C in a
// terminal reaches only the runner, which then stops the process in order.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
