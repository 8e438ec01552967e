// Command server is the OAuth 2.0 device authorization server (RFC 8628).
//
// In a cluster it reads the files that the operator renders into Secrets:
//
//	server --config=/etc/deviceauth/config/config.json \
//	  --keys-dir=/etc/deviceauth/keys --htpasswd=/etc/deviceauth/users/htpasswd
//
// Standalone, it serves the manifests of a folder with no cluster:
//
//	server --manifests config/samples --listen :8080
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"

	"github.com/deviceauth/deviceauth-operator/internal/server"
)

func main() {
	var opts server.Options
	var verbosity int
	var logFormat string
	flag.StringVar(&opts.ConfigPath, "config", "", "path of the rendered config file (config.json)")
	flag.StringVar(&opts.KeysDir, "keys-dir", "", "directory with the signing and session keys")
	flag.StringVar(&opts.HtpasswdPath, "htpasswd", "", "path of the htpasswd file of users who may approve")
	flag.StringVar(&opts.ManifestsDir, "manifests", "",
		"standalone mode: serve the DeviceAuthServer, DeviceAuthClient and Secret manifests in this folder")
	flag.StringVar(&opts.Listen, "listen", ":8080", "public address for the OAuth endpoints and the verification page")
	flag.StringVar(&opts.AdminListen, "admin-listen", ":8081", "admin address for /healthz, /readyz and /metrics")
	flag.StringVar(&opts.Storage, "storage", server.StorageMemory, "authorization store: memory")
	flag.IntVar(&verbosity, "v", 0, "log verbosity: 0 for state changes, 1 adds one line per request")
	flag.StringVar(&logFormat, "log-format", "json", "log format: json or text")
	flag.Parse()

	log, err := newLogger(logFormat, verbosity)
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(2)
	}
	opts.Logger = log

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := server.Run(ctx, opts); err != nil {
		log.Error(err, "Server failed")
		os.Exit(1)
	}
}

func newLogger(format string, verbosity int) (logr.Logger, error) {
	handlerOpts := &slog.HandlerOptions{
		Level: slog.Level(-verbosity),
		// logr's V(n) reaches slog as level -n, which slog would print as
		// DEBUG+3 for V(1); print it as V1 instead.
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if level, ok := a.Value.Any().(slog.Level); ok && a.Key == slog.LevelKey && level < slog.LevelInfo {
				a.Value = slog.StringValue(fmt.Sprintf("V%d", -level))
			}
			return a
		},
	}
	var handler slog.Handler
	switch format {
	case "json":
		handler = slog.NewJSONHandler(os.Stderr, handlerOpts)
	case "text":
		handler = slog.NewTextHandler(os.Stderr, handlerOpts)
	default:
		return logr.Logger{}, fmt.Errorf("unknown --log-format=%s: use json or text", format)
	}
	return logr.FromSlogHandler(handler), nil
}
