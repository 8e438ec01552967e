package verification

import (
	"bytes"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestSessionRoundTrip(t *testing.T) {
	g := NewWithT(t)
	key := bytes.Repeat([]byte{7}, MinSessionKeyBytes)
	now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	want := session{user: "a|b", browserID: newBrowserID(), expires: now.Add(time.Hour)}

	got, ok := decodeSession(key, encodeSession(key, want), now)

	g.Expect(ok).To(BeTrue())
	g.Expect(got.user).To(Equal("a|b"), "a separator in the user name stays in the user name")
	g.Expect(got.browserID).To(Equal(want.browserID))
	g.Expect(got.expires.Equal(want.expires)).To(BeTrue())
}

func TestSessionRejectedWhenExpiredOrOtherKey(t *testing.T) {
	g := NewWithT(t)
	key := bytes.Repeat([]byte{7}, MinSessionKeyBytes)
	otherKey := bytes.Repeat([]byte{8}, MinSessionKeyBytes)
	now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	value := encodeSession(key, session{user: "alice", browserID: newBrowserID(), expires: now.Add(time.Hour)})

	_, ok := decodeSession(key, value, now.Add(time.Hour))
	g.Expect(ok).To(BeFalse(), "expired")
	_, ok = decodeSession(otherKey, value, now)
	g.Expect(ok).To(BeFalse(), "signed with another key")
}

func TestCSRFTokenBoundToBrowserAndKey(t *testing.T) {
	g := NewWithT(t)
	key := bytes.Repeat([]byte{7}, MinSessionKeyBytes)
	browserID := newBrowserID()

	g.Expect(validCSRFToken(key, browserID, csrfToken(key, browserID))).To(BeTrue())
	g.Expect(validCSRFToken(key, newBrowserID(), csrfToken(key, browserID))).To(BeFalse())
	g.Expect(csrfToken(key, browserID)).NotTo(Equal(csrfToken(bytes.Repeat([]byte{8}, 32), browserID)))
	g.Expect(validBrowserID(browserID)).To(BeTrue())
	g.Expect(validBrowserID(browserID + "A")).To(BeFalse())
	g.Expect(validBrowserID("")).To(BeFalse())
}
