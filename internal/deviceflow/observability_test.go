package deviceflow_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/deviceauth/deviceauth-operator/internal/deviceflow"
	"github.com/deviceauth/deviceauth-operator/internal/keys"
)

// counterValue returns the value of the counter name with exactly labels,
// or 0 when the registry has no such series.
func counterValue(t *testing.T, e *env, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := e.registry.Gather()
	if err != nil {
		t.Fatalf("gathering metrics: %v", err)
	}
	for _, family := range families {
		if family.GetName() != name {
			continue
		}
		for _, m := range family.GetMetric() {
			got := map[string]string{}
			for _, pair := range m.GetLabel() {
				got[pair.GetName()] = pair.GetValue()
			}
			if len(got) == len(labels) && mapsEqual(got, labels) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func mapsEqual(a, b map[string]string) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestMetricsCountByClientAndResult(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	da := e.authorize(publicClient)
	e.authorize(publicClient)
	e.pollError(publicClient, da.DeviceCode)
	e.pollError(publicClient, da.DeviceCode)
	e.pollError(publicClient, da.DeviceCode)
	e.pollError("unknown", da.DeviceCode)
	e.do(request{path: deviceflow.DeviceAuthorizationPath, form: url.Values{"client_id": {publicClient}, "scope": {"admin"}}})
	e.approve(da, "alice")
	e.clock.Step(5 * time.Second)
	g.Expect(e.poll(publicClient, da.DeviceCode).Code).To(Equal(http.StatusOK))

	g.Expect(counterValue(t, e, "deviceauth_device_authorizations_total",
		map[string]string{"client_id": publicClient})).To(Equal(2.0))
	g.Expect(counterValue(t, e, "deviceauth_device_authorization_errors_total",
		map[string]string{"client_id": publicClient, "error": "invalid_scope"})).To(Equal(1.0))

	token := func(clientID, result string) float64 {
		return counterValue(t, e, "deviceauth_token_responses_total",
			map[string]string{"client_id": clientID, "result": result})
	}
	g.Expect(token(publicClient, "authorization_pending")).To(Equal(2.0))
	g.Expect(token(publicClient, "slow_down")).To(Equal(1.0))
	g.Expect(token(publicClient, "access_token_issued")).To(Equal(1.0))
	g.Expect(token("", "invalid_client")).To(Equal(1.0), "an unknown client ID is not a label value")
	g.Expect(token("unknown", "invalid_client")).To(Equal(0.0))
}

// Two handlers on one registry share the counters instead of panicking.
func TestMetricsSharedRegistry(t *testing.T) {
	e := newEnv(t)
	second := deviceflow.New(deviceflow.Options{
		Store:      e.memory,
		Config:     e.snap.Load,
		Keys:       func() *keys.Set { return e.keys },
		Registerer: e.registry,
	})
	second.Register(http.NewServeMux())
}

func TestLogsHoldNoCodesOrSecrets(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)

	rec := e.do(request{path: deviceflow.DeviceAuthorizationPath, authorization: basic(confidentialClient, confidentialSecret)})
	g.Expect(rec.Code).To(Equal(http.StatusOK))
	var da deviceAuthorization
	g.Expect(json.Unmarshal(rec.Body.Bytes(), &da)).To(Succeed())

	poll := request{path: deviceflow.TokenPath, form: confidentialPoll(da.DeviceCode), query: "user_code=" + da.UserCode}
	g.Expect(decodeError(t, e.do(poll)).Error).To(Equal("authorization_pending"))
	wrong := request{path: deviceflow.TokenPath, form: with(confidentialPoll(da.DeviceCode), "client_secret", "wrong-secret")}
	g.Expect(decodeError(t, e.do(wrong)).Error).To(Equal("invalid_client"))
	e.approve(da, "alice")
	e.clock.Step(5 * time.Second)
	rec = e.do(poll)
	g.Expect(rec.Code).To(Equal(http.StatusOK))
	var body tokenBody
	g.Expect(json.Unmarshal(rec.Body.Bytes(), &body)).To(Succeed())

	logs := e.logs.String()
	g.Expect(logs).To(ContainSubstring(`"clientID"="confidential-cli"`))
	g.Expect(logs).To(ContainSubstring(`"outcome"="access_token_issued"`))
	g.Expect(strings.Count(logs, `"path"=`)).To(Equal(4), "one line per request")
	for name, secret := range map[string]string{
		"device code":            da.DeviceCode,
		"user code":              da.UserCode,
		"normalized user code":   normalize(t, da.UserCode),
		"client secret":          confidentialSecret,
		"presented wrong secret": "wrong-secret",
		"access token":           body.AccessToken,
		"query string":           "user_code=",
	} {
		g.Expect(logs).NotTo(ContainSubstring(secret), "the logs contain the %s", name)
	}
}
