//go:build !linux

package devstack

import "os/exec"

// setParentDeathSignal does nothing where the kernel has no parent death
// signal: there, a parent that is killed leaves the manager running.
func setParentDeathSignal(*exec.Cmd) {}
