package deviceflow_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth-operator/internal/deviceflow"
)

// benchCodes is how many pending device codes BenchmarkTokenPoll polls in
// turn. The frozen clock advances so that each code is polled exactly once
// per interval, which makes every response authorization_pending.
const benchCodes = 1024

// BenchmarkTokenPoll measures one token-endpoint poll of a pending device
// code through the handler and the Memory store, in process. Compare it
// with BenchmarkBaselineHandler from the same run.
func BenchmarkTokenPoll(b *testing.B) {
	// Verbosity 0, as a production server logs: pending polls go
	// unlogged.
	e := newEnv(b, withLogVerbosity(0))
	c := testConfig(issuerNoPath)
	for i := range c.Clients {
		// Long enough that no code expires however many iterations run.
		c.Clients[i].ExpiresInSeconds = 1 << 30
	}
	e.setConfig(c)

	bodies := make([]string, benchCodes)
	for i := range bodies {
		bodies[i] = pollForm(publicClient, e.authorize(publicClient).DeviceCode).Encode()
	}
	step := 5 * time.Second / benchCodes

	i := 0
	b.ReportAllocs()
	for b.Loop() {
		e.clock.Step(step)
		r := httptest.NewRequest(http.MethodPost, deviceflow.TokenPath, strings.NewReader(bodies[i%benchCodes]))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		e.mux.ServeHTTP(rec, r)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"authorization_pending"`) {
			b.Fatalf("poll %d: status %d, body %s", i, rec.Code, rec.Body)
		}
		i++
	}
}

// BenchmarkBaselineHandler is the baseline for BenchmarkTokenPoll: a bare
// net/http handler that parses the same form and writes a fixed JSON body.
func BenchmarkBaselineHandler(b *testing.B) {
	fixed := []byte(`{"error":"authorization_pending","error_description":"the user has not completed the authorization yet"}`)
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+deviceflow.TokenPath, func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil || r.PostForm.Get("device_code") == "" {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(fixed)
	})
	body := pollForm(publicClient, randomDeviceCode()).Encode()

	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, deviceflow.TokenPath, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, r)
		if rec.Code != http.StatusBadRequest {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
