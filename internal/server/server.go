// Package server assembles the device-flow server. It loads the config,
// keys and users and reloads them when their files change. It serves the
// protocol endpoints and the verification page on the public port, and
// health and metrics on the admin port.
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/deviceauth/deviceauth-operator/internal/config"
	"github.com/deviceauth/deviceauth-operator/internal/deviceflow"
	"github.com/deviceauth/deviceauth-operator/internal/filewatch"
	"github.com/deviceauth/deviceauth-operator/internal/htpasswd"
	"github.com/deviceauth/deviceauth-operator/internal/keys"
	"github.com/deviceauth/deviceauth-operator/internal/store"
	"github.com/deviceauth/deviceauth-operator/internal/verification"
)

// StorageMemory is the only --storage value of this version.
const StorageMemory = "memory"

// shutdownTimeout bounds how long in-flight requests may finish after a
// stop signal; kubelet's default grace period is 30s.
const shutdownTimeout = 20 * time.Second

// Options configure Run. Exactly one of ManifestsDir and ConfigPath is set.
type Options struct {
	// ConfigPath, KeysDir and HtpasswdPath are the mounted files that the
	// operator renders.
	ConfigPath   string
	KeysDir      string
	HtpasswdPath string

	// ManifestsDir selects standalone mode: the server renders its state
	// from the manifests in this folder instead of mounted files.
	ManifestsDir string

	// Listen and AdminListen are the public and admin addresses.
	Listen      string
	AdminListen string

	// Storage is the store backend.
	Storage string

	// Clock returns the current time. Default time.Now.
	Clock func() time.Time

	// Logger receives the server's logs.
	Logger logr.Logger

	// Listening, when set, is called with the bound addresses and the
	// issuer in force once both ports accept connections.
	Listening func(public, admin net.Addr, issuer string)

	// Watch tunes the reload of changed files.
	Watch filewatch.Options
}

// Run serves until ctx ends, then shuts down gracefully.
func Run(ctx context.Context, opts Options) error {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	log := opts.Logger
	ctx = logr.NewContext(ctx, log)

	publicListener, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return fmt.Errorf("listening on --listen=%s: %w", opts.Listen, err)
	}
	defer publicListener.Close()
	adminListener, err := net.Listen("tcp", opts.AdminListen)
	if err != nil {
		return fmt.Errorf("listening on --admin-listen=%s: %w", opts.AdminListen, err)
	}
	defer adminListener.Close()

	src, err := newSource(opts, publicListener.Addr())
	if err != nil {
		return err
	}
	initial, err := src.Load(ctx)
	if err != nil {
		return fmt.Errorf("loading initial state: %w", err)
	}
	var state atomic.Pointer[State]
	state.Store(initial)

	st, err := newStore(opts.Storage, opts.Clock)
	if err != nil {
		return err
	}
	defer st.Close()

	registry := prometheus.NewRegistry()
	registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	reloads := newReloadMetrics(registry)

	public, err := publicHandler(opts, st, &state, registry, log)
	if err != nil {
		return err
	}
	publicServer := newHTTPServer(withRequestLog(public, log.WithName("http")))
	adminServer := newHTTPServer(adminHandler(st, registry))

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watchDone, err := filewatch.Start(watchCtx, src.Dirs(), opts.Watch, func() {
		reload(watchCtx, src, &state, reloads)
	})
	if err != nil {
		return err
	}

	errs := make(chan error, 2)
	go func() { errs <- serve(publicServer, publicListener) }()
	go func() { errs <- serve(adminServer, adminListener) }()

	issuer := initial.Config.Config.Issuer
	log.Info("Serving",
		"issuer", issuer,
		"listen", publicListener.Addr().String(),
		"adminListen", adminListener.Addr().String(),
		"storage", opts.Storage,
		"clients", len(initial.Config.Config.Clients))
	if opts.Listening != nil {
		opts.Listening(publicListener.Addr(), adminListener.Addr(), issuer)
	}

	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	log.Info("Shutting down")
	stopWatch()
	<-watchDone
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	return errors.Join(err, publicServer.Shutdown(shutdownCtx), adminServer.Shutdown(shutdownCtx))
}

func newSource(opts Options, public net.Addr) (source, error) {
	if opts.ManifestsDir != "" {
		return newStandaloneSource(opts.ManifestsDir, issuerForListener(opts.Listen, public))
	}
	if opts.ConfigPath == "" || opts.KeysDir == "" || opts.HtpasswdPath == "" {
		return nil, errors.New("set --config, --keys-dir and --htpasswd, or --manifests DIR for standalone mode")
	}
	return &mountedSource{
		configPath:   opts.ConfigPath,
		keysDir:      opts.KeysDir,
		htpasswdPath: opts.HtpasswdPath,
	}, nil
}

func newStore(storage string, clock func() time.Time) (store.Store, error) {
	switch storage {
	case StorageMemory, "":
		return store.NewMemory(store.WithClock(clock)), nil
	}
	return nil, fmt.Errorf("unknown --storage=%s: this version supports only %s", storage, StorageMemory)
}

// publicHandler routes the protocol endpoints and the verification page.
func publicHandler(opts Options, st store.Store, state *atomic.Pointer[State], registry prometheus.Registerer, log logr.Logger) (http.Handler, error) {
	current := func() *State { return state.Load() }
	mux := http.NewServeMux()
	flow := deviceflow.New(deviceflow.Options{
		Store:      st,
		Clock:      opts.Clock,
		Config:     func() *config.Snapshot { return current().Config },
		Keys:       func() *keys.Set { return current().Keys },
		Logger:     log.WithName("deviceflow"),
		Registerer: registry,
	})
	flow.Register(mux)
	page := verification.New(verification.Options{
		Store:      st,
		Clock:      opts.Clock,
		Config:     func() *config.Snapshot { return current().Config },
		Users:      func() *htpasswd.Users { return current().Users },
		SessionKey: func() []byte { return current().Keys.SessionKey },
		Logger:     log.WithName("verification"),
	})
	page.Register(mux)
	return mux, nil
}

// adminHandler serves liveness, readiness and metrics. Readiness fails
// while the store is unreachable, so a Service stops routing to a pod that
// could only return slow_down.
func adminHandler(st store.Store, gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := st.Ping(ctx); err != nil {
			http.Error(w, "store unreachable", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	return mux
}

func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}

func serve(s *http.Server, l net.Listener) error {
	if err := s.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
