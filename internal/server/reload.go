package server

import (
	"context"
	"sync/atomic"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
)

type reloadMetrics struct {
	total       *prometheus.CounterVec
	lastSuccess prometheus.Gauge
}

func newReloadMetrics(r prometheus.Registerer) *reloadMetrics {
	m := &reloadMetrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deviceauth_config_reloads_total",
			Help: "Reloads of the config, keys and users after their files changed, by result.",
		}, []string{"result"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "deviceauth_config_last_reload_successful",
			Help: "1 when the last reload succeeded, 0 when the server still serves an older state.",
		}),
	}
	m.lastSuccess.Set(1)
	r.MustRegister(m.total, m.lastSuccess)
	return m
}

// reload replaces the state with a fresh load. A load that fails keeps the
// old state in force: a half-written or invalid Secret never takes the
// server down, and pending authorizations are untouched either way.
func reload(ctx context.Context, src source, state *atomic.Pointer[State], m *reloadMetrics) {
	log := logr.FromContextOrDiscard(ctx)
	next, err := src.Load(ctx)
	if err != nil {
		m.total.WithLabelValues("error").Inc()
		m.lastSuccess.Set(0)
		log.Error(err, "Reload failed; still serving the previous configuration")
		return
	}
	state.Store(next)
	m.total.WithLabelValues("success").Inc()
	m.lastSuccess.Set(1)
	log.Info("Reloaded configuration", "issuer", next.Config.Config.Issuer, "clients", len(next.Config.Config.Clients))
}
