package devstack

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel kill the manager when its parent dies
// without its cleanup, such as by SIGKILL. The manager also gets its own
// process group, so that Ctrl-C reaches only the parent, which stops the server
// before the manager.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
