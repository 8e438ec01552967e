package deviceflow

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics count responses by registered client ID and outcome. Labels
// never carry a code or secret, and an unknown client is counted with an
// empty client_id, which keeps the label set bounded.
type metrics struct {
	deviceAuthorizations      *prometheus.CounterVec
	deviceAuthorizationErrors *prometheus.CounterVec
	tokenResponses            *prometheus.CounterVec
	userCodeCollisions        prometheus.Counter
	storeErrors               *prometheus.CounterVec
}

func newMetrics(r prometheus.Registerer) *metrics {
	return &metrics{
		deviceAuthorizations: register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deviceauth_device_authorizations_total",
			Help: "Device codes issued by the device authorization endpoint, by client.",
		}, []string{"client_id"})),
		deviceAuthorizationErrors: register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deviceauth_device_authorization_errors_total",
			Help: "Error responses of the device authorization endpoint, by client and OAuth error code.",
		}, []string{"client_id", "error"})),
		tokenResponses: register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deviceauth_token_responses_total",
			Help: "Responses of the token endpoint, by client and result: " +
				outcomeAccessTokenIssued + " or the OAuth error code.",
		}, []string{"client_id", "result"})),
		userCodeCollisions: register(r, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "deviceauth_user_code_collisions_total",
			Help: "User codes drawn that another live authorization already had.",
		})),
		storeErrors: register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deviceauth_store_errors_total",
			Help: "Failed store calls, by operation.",
		}, []string{"operation"})),
	}
}

// register registers c with r, or returns the collector already registered
// under the same descriptors, so that two handlers can share a registry.
// It panics on any other registration error, as MustRegister does.
func register[C prometheus.Collector](r prometheus.Registerer, c C) C {
	if r == nil {
		return c
	}
	err := r.Register(c)
	if err == nil {
		return c
	}
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		if existing, ok := already.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(err)
}

func (m *metrics) observe(name endpointName, ex *exchange) {
	switch name {
	case endpointDeviceAuthorization:
		if ex.outcome == outcomeDeviceCodeIssued {
			m.deviceAuthorizations.WithLabelValues(ex.clientID).Inc()
		} else {
			m.deviceAuthorizationErrors.WithLabelValues(ex.clientID, ex.outcome).Inc()
		}
	case endpointToken:
		m.tokenResponses.WithLabelValues(ex.clientID, ex.outcome).Inc()
	}
}
