package verification

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Cookie names. Both cookies are scoped to the page path, HttpOnly and
// SameSite=Lax, and Secure when the issuer is https. The __Host- prefix
// would need Path=/, which would send them to every endpoint of the issuer.
const (
	// browserCookie holds a random browser ID, set on the first visit. CSRF
	// tokens are derived from it, which binds them to this browser, and it
	// exists before sign-in so that the sign-in form is protected too.
	browserCookie = "deviceauth_browser"

	// sessionCookie holds the signed-in user, the session's expiry and the
	// browser ID it belongs to, signed with the session key.
	sessionCookie = "deviceauth_session"
)

// SessionLifetime is how long a sign-in lasts. It is not extended by use.
const SessionLifetime = time.Hour

// MinSessionKeyBytes is the shortest session key accepted, the output size
// of HMAC-SHA256.
const MinSessionKeyBytes = 32

const browserIDBytes = 32

// MAC labels keep a CSRF token and a session signature from ever being
// valid in each other's place, although one key signs both.
const (
	csrfLabel    = "deviceauth csrf v1\x00"
	sessionLabel = "deviceauth session v1\x00"
)

func newBrowserID() string {
	b := make([]byte, browserIDBytes)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// validBrowserID reports whether s has the shape newBrowserID produces, so
// that a client-chosen value of another length never becomes a MAC input.
func validBrowserID(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == browserIDBytes
}

func mac(key []byte, label, message string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	m.Write([]byte(message))
	return m.Sum(nil)
}

// csrfToken returns the token that every form of this browser carries.
func csrfToken(key []byte, browserID string) string {
	return base64.RawURLEncoding.EncodeToString(mac(key, csrfLabel, browserID))
}

// validCSRFToken compares token with the browser's token in constant time.
func validCSRFToken(key []byte, browserID, token string) bool {
	want := csrfToken(key, browserID)
	return subtle.ConstantTimeCompare([]byte(want), []byte(token)) == 1
}

// session is a signed-in user as the session cookie records it.
type session struct {
	user      string
	browserID string
	expires   time.Time
}

// encodeSession returns the cookie value: the base64url payload
// "expiry|browserID|user", a dot, and the base64url HMAC of the payload.
func encodeSession(key []byte, s session) string {
	payload := strconv.FormatInt(s.expires.Unix(), 10) + "|" + s.browserID + "|" + s.user
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." +
		base64.RawURLEncoding.EncodeToString(mac(key, sessionLabel, payload))
}

// decodeSession verifies a session cookie value and reports whether it is
// validly signed and unexpired at now.
func decodeSession(key []byte, value string, now time.Time) (session, bool) {
	encodedPayload, encodedMAC, found := strings.Cut(value, ".")
	if !found {
		return session{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(encodedPayload)
	if err != nil {
		return session{}, false
	}
	signature, err := base64.RawURLEncoding.DecodeString(encodedMAC)
	if err != nil || !hmac.Equal(signature, mac(key, sessionLabel, string(payload))) {
		return session{}, false
	}

	fields := strings.SplitN(string(payload), "|", 3)
	if len(fields) != 3 || fields[2] == "" {
		return session{}, false
	}
	expiry, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil {
		return session{}, false
	}
	s := session{user: fields[2], browserID: fields[1], expires: time.Unix(expiry, 0)}
	if !now.Before(s.expires) {
		return session{}, false
	}
	return s, true
}

// cookieJar sets and clears this page's cookies with the same attributes,
// so that a clearing cookie always replaces the cookie it means.
type cookieJar struct {
	path   string
	secure bool
}

func (c cookieJar) cookie(name, value string) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     c.path,
		HttpOnly: true,
		Secure:   c.secure,
		SameSite: http.SameSiteLaxMode,
	}
}

// setBrowser sets the browser ID as a cookie that lasts until the browser
// closes.
func (c cookieJar) setBrowser(w http.ResponseWriter, browserID string) {
	http.SetCookie(w, c.cookie(browserCookie, browserID))
}

func (c cookieJar) setSession(w http.ResponseWriter, key []byte, s session, now time.Time) {
	cookie := c.cookie(sessionCookie, encodeSession(key, s))
	cookie.MaxAge = int(s.expires.Sub(now) / time.Second)
	cookie.Expires = s.expires
	http.SetCookie(w, cookie)
}

func (c cookieJar) clearSession(w http.ResponseWriter) {
	cookie := c.cookie(sessionCookie, "")
	cookie.MaxAge = -1
	http.SetCookie(w, cookie)
}
