//go:build !linux

package localcluster

import "os/exec"

// setParentDeathSignal does nothing where the kernel has no parent death
// signal: there, a runner that dies leaves its process running.
func setParentDeathSignal(*exec.Cmd) {}
