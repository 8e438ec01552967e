package devstack

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/deviceauth/deviceauth-operator/internal/localcluster"
)

// binaryPaths are the programs that dev runs.
type binaryPaths struct {
	assets  string // etcd, kube-apiserver, kubectl
	manager string
	server  string
}

// buildAll builds the control plane when its cache is stale, then the
// manager and the server into binDir.
func (e *Stack) buildAll(ctx context.Context) (*binaryPaths, error) {
	root, binDir := e.opts.RepoRoot, e.opts.BinDir
	e.step("Building the control plane if needed (the first build takes about 6 minutes)")
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "controlplane.sh"))
	cmd.Stderr = e.opts.Progress
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("hack/controlplane.sh: %w", err)
	}
	b := &binaryPaths{
		assets:  strings.TrimSpace(string(out)),
		manager: filepath.Join(binDir, "manager"),
		server:  filepath.Join(binDir, "server"),
	}

	e.step("Building the manager and the server")
	for pkg, out := range map[string]string{"./cmd/manager": b.manager, "./cmd/server": b.server} {
		build := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
		build.Dir = root
		build.Stdout = e.opts.Progress
		build.Stderr = e.opts.Progress
		if err := build.Run(); err != nil {
			return nil, fmt.Errorf("go build %s: %w", pkg, err)
		}
	}
	return b, nil
}

// choosePublicPort returns the requested port, else 8080 when it is free,
// else a free port.
func choosePublicPort(requested int) (int, error) {
	if requested != 0 {
		return requested, nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(preferredPublicPort)))
	if err == nil {
		l.Close()
		return preferredPublicPort, nil
	}
	return localcluster.FreeLoopbackPort()
}

func (e *Stack) step(msg string) {
	fmt.Fprintf(e.opts.Progress, "==> %s\n", msg)
}
