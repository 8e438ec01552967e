// Command dev runs the whole product on this machine for trying it out:
// a real etcd and kube-apiserver, the operator (cmd/manager) as a process,
// the sample manifests applied with kubectl, and the server (cmd/server)
// started from the operator's own Deployment. It needs Go and nothing else;
// Docker, a kubelet and a kube-controller-manager are not used.
//
//	make dev
//
// It prints the issuer, the sample user and the login command, and runs
// until Ctrl-C. The cluster lives in a temporary directory and is gone
// after each run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/deviceauth/deviceauth-operator/internal/devstack"
	"github.com/deviceauth/deviceauth-operator/internal/localcluster"
)

func main() {
	var opts devstack.Options
	flag.StringVar(&opts.SamplesDir, "samples", "config/samples", "folder of manifests to apply with kubectl")
	flag.StringVar(&opts.Server, "server", "",
		"DeviceAuthServer to run as namespace/name; default the only one in the samples")
	flag.IntVar(&opts.PublicPort, "port", 0,
		"loopback port of the server's public endpoints; default 8080 when free, else a free port")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts); err != nil {
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, opts devstack.Options) (err error) {
	root, err := localcluster.FindRepoRoot()
	if err != nil {
		return err
	}
	opts.RepoRoot = root
	if !filepath.IsAbs(opts.SamplesDir) {
		opts.SamplesDir = filepath.Join(root, opts.SamplesDir)
	}

	stack, err := devstack.Start(ctx, opts)
	defer func() { err = errors.Join(err, stack.Stop()) }()
	if err != nil {
		return err
	}

	stack.PrintInstructions(os.Stdout)
	select {
	case <-ctx.Done():
		fmt.Fprintln(os.Stderr, "\n==> Ctrl-C received, shutting down")
		return nil
	case <-stack.ManagerExited():
		return fmt.Errorf("the manager exited: %v; see %s", stack.ManagerErr(), stack.ManagerLog)
	}
}
