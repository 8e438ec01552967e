package v1alpha1

// Built-in defaults, used when neither the client nor its server's
// spec.defaults sets a value.
const (
	DefaultIntervalSeconds  int32 = 5
	DefaultExpiresInSeconds int32 = 300
	DefaultUserCodeCharset        = UserCodeCharsetLetters

	// DefaultLetterUserCodeLength is the length of a Letters user code,
	// shown to people as two groups of four (WDJB-MJHT).
	DefaultLetterUserCodeLength int32 = 8

	// MinLetterUserCodeLength and MinDigitUserCodeLength are the shortest
	// user codes with enough entropy for RFC 8628 section 6.1: 20^8 and
	// 10^9 combinations.
	MinLetterUserCodeLength int32 = 8
	MinDigitUserCodeLength  int32 = 9

	// SlowDownStepSeconds is what each slow_down adds to a device code's
	// polling interval, as RFC 8628 section 3.5 requires clients to do.
	SlowDownStepSeconds int32 = 5
)

// PollingPolicy sets how often a client may poll the token endpoint and how
// long its device codes live.
// +kubebuilder:validation:XValidation:rule="!has(self.intervalSeconds) || !has(self.expiresInSeconds) || self.expiresInSeconds > self.intervalSeconds",message="polling.expiresInSeconds must be greater than polling.intervalSeconds"
type PollingPolicy struct {
	// intervalSeconds is the minimum number of seconds a client waits between
	// two polls of the token endpoint, sent to it as "interval". At least 1.
	// When unset, the server's spec.defaults.polling.intervalSeconds
	// applies, else 5.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=300
	IntervalSeconds *int32 `json:"intervalSeconds,omitempty"`

	// expiresInSeconds is the lifetime of a device code and its user code in
	// seconds, sent to the client as "expires_in". It must be greater than
	// intervalSeconds. When unset, the server's
	// spec.defaults.polling.expiresInSeconds applies, else 300.
	// +optional
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=86400
	ExpiresInSeconds *int32 `json:"expiresInSeconds,omitempty"`
}

// UserCodeCharset is the alphabet of user codes.
// +kubebuilder:validation:Enum=Letters;Digits
type UserCodeCharset string

const (
	// UserCodeCharsetLetters draws from the 20 consonants
	// BCDFGHJKLMNPQRSTVWXZ, which avoid vowels (no words) and look-alikes.
	UserCodeCharsetLetters UserCodeCharset = "Letters"

	// UserCodeCharsetDigits draws from 0-9, easy to type on a phone keypad.
	UserCodeCharsetDigits UserCodeCharset = "Digits"
)

// UserCodePolicy sets the shape of the user codes that people type.
// +kubebuilder:validation:XValidation:rule="!has(self.length) || !has(self.charset) || self.charset != 'Digits' || self.length >= 9",message="userCode.length must be at least 9 for the Digits charset"
type UserCodePolicy struct {
	// charset is the alphabet of user codes: Letters (the 20 consonants
	// BCDFGHJKLMNPQRSTVWXZ) or Digits. When unset, the server's
	// spec.defaults.userCode.charset applies, else Letters.
	// +optional
	Charset *UserCodeCharset `json:"charset,omitempty"`

	// length is the number of characters in a user code, not counting the
	// dash shown in the middle. At least 8 for Letters and 9 for Digits, the
	// RFC 8628 section 6.1 entropy bounds. When unset, the server's
	// spec.defaults.userCode.length applies, else 8 for Letters and 9 for
	// Digits.
	// +optional
	// +kubebuilder:validation:Minimum=8
	// +kubebuilder:validation:Maximum=20
	Length *int32 `json:"length,omitempty"`
}
