package render

import (
	"fmt"
	"strings"

	"github.com/deviceauth/deviceauth-operator/api/v1alpha1"
	"github.com/deviceauth/deviceauth-operator/internal/usercode"
)

// Where a resolved value came from, for messages about invalid combinations.
const (
	sourceClient  = "spec.%s"
	sourceServer  = "the server's spec.defaults.%s"
	sourceBuiltIn = "the built-in default"
)

// policy is a client's polling and user-code policy after layering, with
// the source of each value.
type policy struct {
	polling  v1alpha1.ResolvedPolling
	userCode v1alpha1.ResolvedUserCode

	intervalSource string
	expiresSource  string
	charsetSource  string
	lengthSource   string
}

// resolvePolicy layers the client's fields over the server's spec.defaults
// over the built-in defaults, field by field. Each layer's own rules are
// CRD validation, so only combinations across layers can be invalid here:
// problem reports them.
func resolvePolicy(server *v1alpha1.DeviceAuthServer, client *v1alpha1.DeviceAuthClient) policy {
	var p policy
	clientPolling, serverPolling := client.Spec.Polling, server.Spec.Defaults.Polling
	clientCode, serverCode := client.Spec.UserCode, server.Spec.Defaults.UserCode

	p.polling.IntervalSeconds, p.intervalSource = layer("polling.intervalSeconds",
		clientPolling.IntervalSeconds, serverPolling.IntervalSeconds, v1alpha1.DefaultIntervalSeconds)
	p.polling.ExpiresInSeconds, p.expiresSource = layer("polling.expiresInSeconds",
		clientPolling.ExpiresInSeconds, serverPolling.ExpiresInSeconds, v1alpha1.DefaultExpiresInSeconds)
	p.userCode.Charset, p.charsetSource = layer("userCode.charset",
		clientCode.Charset, serverCode.Charset, v1alpha1.DefaultUserCodeCharset)

	// The built-in length depends on the charset in force.
	defaultLength := v1alpha1.DefaultLetterUserCodeLength
	if p.userCode.Charset == v1alpha1.UserCodeCharsetDigits {
		defaultLength = v1alpha1.MinDigitUserCodeLength
	}
	p.userCode.Length, p.lengthSource = layer("userCode.length",
		clientCode.Length, serverCode.Length, defaultLength)
	return p
}

// layer returns the first set value of the client and server layers, else
// builtIn, and a description of where it came from.
func layer[T any](field string, clientValue, serverValue *T, builtIn T) (T, string) {
	if clientValue != nil {
		return *clientValue, fmt.Sprintf(sourceClient, field)
	}
	if serverValue != nil {
		return *serverValue, fmt.Sprintf(sourceServer, field)
	}
	return builtIn, sourceBuiltIn
}

// problem returns a message naming each invalid combination and where its
// values came from, or "" when the policy is valid.
func (p policy) problem() string {
	var problems []string
	interval, expires := p.polling.IntervalSeconds, p.polling.ExpiresInSeconds
	if interval < 1 {
		problems = append(problems, fmt.Sprintf(
			"intervalSeconds %d (from %s) must be at least 1", interval, p.intervalSource))
	}
	if expires <= interval {
		problems = append(problems, fmt.Sprintf(
			"expiresInSeconds %d (from %s) must be greater than intervalSeconds %d (from %s): "+
				"set spec.polling.expiresInSeconds or spec.polling.intervalSeconds on the client "+
				"so that the device code outlives the polling interval",
			expires, p.expiresSource, interval, p.intervalSource))
	}

	length, charset := p.userCode.Length, p.userCode.Charset
	minLength := v1alpha1.MinLetterUserCodeLength
	switch charset {
	case v1alpha1.UserCodeCharsetLetters:
	case v1alpha1.UserCodeCharsetDigits:
		minLength = v1alpha1.MinDigitUserCodeLength
	default:
		problems = append(problems, fmt.Sprintf(
			"userCode.charset %q (from %s) must be Letters or Digits", charset, p.charsetSource))
	}
	if length < minLength {
		problems = append(problems, fmt.Sprintf(
			"userCode.length %d (from %s) is too short for the %s charset (from %s): "+
				"it must be at least %d, so set spec.userCode.length on the client",
			length, p.lengthSource, charset, p.charsetSource, minLength))
	}
	if length > usercode.MaxLength {
		problems = append(problems, fmt.Sprintf(
			"userCode.length %d (from %s) must be at most %d", length, p.lengthSource, usercode.MaxLength))
	}
	return strings.Join(problems, "; ")
}
