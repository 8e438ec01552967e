// Command deviceauth signs in to a device authorization server with the
// OAuth 2.0 Device Authorization Grant (RFC 8628), the way a command-line
// tool of your own would:
//
//	deviceauth login --issuer http://127.0.0.1:8080 --client-id cli
//
// It shows a code to enter on the server's verification page, polls the
// token endpoint until the code is approved, denied or expired, and then
// verifies the access token against the server's published keys.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `Usage: deviceauth login --issuer URL --client-id ID [flags]

Commands:
  login    sign in with the device authorization grant and verify the token

Run "deviceauth login -h" for the flags of login.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args and returns the process exit code: 0
// on success, 1 when the command failed, 2 for a usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "login":
		return runLogin(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "deviceauth: unknown command %q\n\n%s", args[0], usage)
	return 2
}
