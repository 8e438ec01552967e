package verification_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/deviceauth/deviceauth-operator/internal/config"
	"github.com/deviceauth/deviceauth-operator/internal/store"
	"github.com/deviceauth/deviceauth-operator/internal/verification"
	"github.com/deviceauth/deviceauth-operator/internal/verification/verificationtest"
)

const invalidCodeAlert = "That code is not valid."

func TestApproveFromCompleteURL(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.createAuthorization("WDJBMJHT")
	p := f.newPerson()

	page := p.open(f.completeURL("WDJB-MJHT"))
	g.Expect(page.Status).To(Equal(http.StatusOK))
	g.Expect(page.FormWithButton("sign_in")).NotTo(BeNil())
	g.Expect(page.FormWithButton("sign_in").Field("user_code").Value).To(Equal("WDJBMJHT"))

	page = p.press("sign_in", map[string]string{"username": "alice", "password": alicePassword})
	g.Expect(page.Status).To(Equal(http.StatusOK))
	g.Expect(page.FormWithButton("lookup")).NotTo(BeNil(), page.Text)
	g.Expect(page.FormWithButton("lookup").Field("user_code").Value).To(Equal("WDJB-MJHT"))
	g.Expect(page.Text).To(ContainSubstring("Signed in as alice"))
	g.Expect(f.authorization("WDJBMJHT").State).To(Equal(store.StatePending),
		"a pre-filled code needs the person's confirmation")

	page = p.press("lookup", nil)
	g.Expect(page.Status).To(Equal(http.StatusOK))
	g.Expect(page.Text).To(ContainSubstring(clientDisplayName))
	g.Expect(page.Text).To(ContainSubstring(clientID))
	g.Expect(page.Text).To(ContainSubstring("openid"))
	g.Expect(page.Text).To(ContainSubstring("groups"))
	g.Expect(page.Text).NotTo(ContainSubstring("offline_access"), "only the requested scopes are shown")
	g.Expect(page.Text).To(ContainSubstring("WDJB-MJHT"))
	g.Expect(page.Text).To(ContainSubstring("Approve only if you started this sign-in yourself"))
	g.Expect(f.authorization("WDJBMJHT").State).To(Equal(store.StatePending))

	page = p.press("approve", nil)
	g.Expect(page.Status).To(Equal(http.StatusOK))
	g.Expect(page.Text).To(ContainSubstring("You can return to your device"))
	auth := f.authorization("WDJBMJHT")
	g.Expect(auth.State).To(Equal(store.StateApproved))
	g.Expect(auth.Subject).To(Equal("alice"))

	logs := f.logs.String()
	g.Expect(logs).To(ContainSubstring(`"Device authorization approved" "clientID"="kubectl-oidc" "user"="alice"`))
	g.Expect(logs).NotTo(ContainSubstring("WDJB"))
	g.Expect(logs).NotTo(ContainSubstring(alicePassword))
	g.Expect(logs).NotTo(ContainSubstring("deviceauth_"))
}

func TestDenyFromCompleteURL(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.createAuthorization("BCDFGHJK")
	p := f.newPerson()

	p.signIn(f.completeURL("BCDF-GHJK"), "bob", bobPassword)
	p.press("lookup", nil)
	page := p.press("deny", nil)

	g.Expect(page.Status).To(Equal(http.StatusOK))
	g.Expect(page.Text).To(ContainSubstring("You can return to your device. It will not get access."))
	auth := f.authorization("BCDFGHJK")
	g.Expect(auth.State).To(Equal(store.StateDenied))
	g.Expect(auth.Subject).To(Equal("bob"))
	g.Expect(f.logs.String()).To(ContainSubstring(`"Device authorization denied" "clientID"="kubectl-oidc" "user"="bob"`))
	g.Expect(f.logs.String()).NotTo(ContainSubstring("BCDF"))
}

func TestHelperApproveAndDeny(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.createAuthorization("WDJBMJHT")
	f.createAuthorization("BCDFGHJK")
	f.createAuthorization("LMNPQRST")
	ctx := context.Background()

	g.Expect(verificationtest.Approve(ctx, f.newClient(), f.completeURL("WDJB-MJHT"), "alice", alicePassword)).
		To(Succeed())
	g.Expect(f.authorization("WDJBMJHT").State).To(Equal(store.StateApproved))
	g.Expect(f.authorization("WDJBMJHT").Subject).To(Equal("alice"))

	g.Expect(verificationtest.Deny(ctx, f.newClient(), f.completeURL("BCDF-GHJK"), "bob", bobPassword)).
		To(Succeed())
	g.Expect(f.authorization("BCDFGHJK").State).To(Equal(store.StateDenied))

	// A client that keeps its cookies reuses the session for the next code.
	shared := f.newClient()
	g.Expect(verificationtest.ApproveTypedCode(ctx, shared, f.pageURL, "lmnp qrst", "bob", bobPassword)).
		To(Succeed())
	g.Expect(f.authorization("LMNPQRST").Subject).To(Equal("bob"))
}

func TestHelperReportsFailures(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.createAuthorization("WDJBMJHT")
	ctx := context.Background()

	err := verificationtest.Approve(ctx, f.newClient(), f.completeURL("WDJB-MJHT"), "alice", "wrong")
	g.Expect(err).To(MatchError(ContainSubstring("Wrong username or password")))

	err = verificationtest.Approve(ctx, f.newClient(), f.completeURL("BCDF-GHJK"), "alice", alicePassword)
	g.Expect(err).To(MatchError(ContainSubstring(invalidCodeAlert)))

	err = verificationtest.Approve(ctx, f.newClient(), f.pageURL, "alice", alicePassword)
	g.Expect(err).To(MatchError(ContainSubstring("no user_code parameter")))
	g.Expect(f.authorization("WDJBMJHT").State).To(Equal(store.StatePending))
}

func TestWrongPasswordShowsSignInAgain(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.createAuthorization("WDJBMJHT")
	p := f.newPerson()

	page := p.signIn(f.completeURL("WDJB-MJHT"), "alice", "not alice's password")
	g.Expect(page.Status).To(Equal(http.StatusOK))
	g.Expect(page.Alert).To(Equal("Wrong username or password."))
	g.Expect(page.FormWithButton("lookup")).To(BeNil())
	form := page.FormWithButton("sign_in")
	g.Expect(form).NotTo(BeNil())
	g.Expect(form.Field("username").Value).To(Equal("alice"))
	g.Expect(form.Field("password").Value).To(BeEmpty())
	g.Expect(form.Field("user_code").Value).To(Equal("WDJBMJHT"), "the code survives a failed sign-in")

	page = p.signIn(f.completeURL("WDJB-MJHT"), "mallory", alicePassword)
	g.Expect(page.Alert).To(Equal("Wrong username or password."), "unknown users get the same answer")

	page = p.open(f.pageURL)
	g.Expect(page.FormWithButton("sign_in")).NotTo(BeNil(), "a failed sign-in starts no session")
}

func TestOverlongUsernameIsWrong(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	p := f.newPerson()
	name := "alice" + strings.Repeat("x", 300)

	page := p.signIn(f.pageURL, name, alicePassword)

	g.Expect(page.Status).To(Equal(http.StatusOK))
	g.Expect(page.Alert).To(Equal("Wrong username or password."))
	g.Expect(page.FormWithButton("sign_in").Field("username").Value).To(HaveLen(256))
}

func TestTypedCodeIgnoresCaseDashesAndSpaces(t *testing.T) {
	for _, typed := range []string{"wdjb-mjht", "WDJB MJHT", " wdjbmjht ", "Wd-Jb-Mj-Ht"} {
		t.Run(typed, func(t *testing.T) {
			g := NewWithT(t)
			f := newFixture(t)
			f.createAuthorization("WDJBMJHT")
			p := f.newPerson()

			page := p.signIn(f.pageURL, "alice", alicePassword)
			g.Expect(page.FormWithButton("lookup").Field("user_code").Value).To(BeEmpty())
			page = p.press("lookup", map[string]string{"user_code": typed})
			g.Expect(page.FormWithButton("approve")).NotTo(BeNil(), page.Alert)
			g.Expect(page.Text).To(ContainSubstring("WDJB-MJHT"))
		})
	}
}

func TestMalformedPrefilledCodeIsDropped(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	p := f.newPerson()

	page := p.signIn(f.completeURL(`"><script>x</script>`), "alice", alicePassword)
	g.Expect(page.FormWithButton("lookup").Field("user_code").Value).To(BeEmpty())
}

func TestUnknownExpiredAndUsedCodesLookAlike(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.createAuthorization("WDJBMJHT")
	f.createAuthorization("BCDFGHJK")
	g.Expect(f.store.Approve(context.Background(), "BCDFGHJK", "bob", f.clock.Now())).To(Succeed())
	p := f.newPerson()
	p.signIn(f.pageURL, "alice", alicePassword)

	var alerts []string
	for _, code := range []string{"LMNP-QRST", "BCDF-GHJK"} {
		page := p.press("lookup", map[string]string{"user_code": code})
		g.Expect(page.Status).To(Equal(http.StatusOK))
		g.Expect(page.FormWithButton("approve")).To(BeNil())
		alerts = append(alerts, page.Alert)
	}

	f.clock.Step(301 * time.Second)
	page := p.press("lookup", map[string]string{"user_code": "WDJB-MJHT"})
	g.Expect(page.FormWithButton("approve")).To(BeNil(), "an expired code cannot be confirmed")
	alerts = append(alerts, page.Alert)

	g.Expect(alerts[0]).To(HavePrefix(invalidCodeAlert))
	g.Expect(alerts).To(HaveEach(alerts[0]), "unknown, used and expired codes get one message")
	g.Expect(f.authorization("WDJBMJHT").State).To(Equal(store.StatePending))
}

func TestCodeExpiringOnConfirmationCannotBeApproved(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.createAuthorization("WDJBMJHT")
	p := f.newPerson()
	p.signIn(f.completeURL("WDJB-MJHT"), "alice", alicePassword)
	p.press("lookup", nil)

	f.clock.Step(300 * time.Second)
	page := p.press("approve", nil)

	g.Expect(page.Alert).To(HavePrefix(invalidCodeAlert))
	g.Expect(f.authorization("WDJBMJHT").State).To(Equal(store.StatePending))
}

func TestAlreadyApprovedCodeCannotBeDecidedAgain(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.createAuthorization("WDJBMJHT")
	alice := f.newPerson()
	alice.signIn(f.completeURL("WDJB-MJHT"), "alice", alicePassword)
	alice.press("lookup", nil)
	bob := f.newPerson()
	bob.signIn(f.completeURL("WDJB-MJHT"), "bob", bobPassword)
	bob.press("lookup", nil)

	g.Expect(alice.press("approve", nil).Text).To(ContainSubstring("You can return to your device"))
	page := bob.press("deny", nil)

	g.Expect(page.Alert).To(HavePrefix(invalidCodeAlert))
	auth := f.authorization("WDJBMJHT")
	g.Expect(auth.State).To(Equal(store.StateApproved))
	g.Expect(auth.Subject).To(Equal("alice"))
}

func TestPostWithoutValidCSRFTokenIsRejected(t *testing.T) {
	cases := []struct {
		name  string
		token func(own, other string) (string, bool)
	}{
		{"missing", func(string, string) (string, bool) { return "", false }},
		{"empty", func(string, string) (string, bool) { return "", true }},
		{"altered", func(own, _ string) (string, bool) { return flipLastChar(own), true }},
		{"another browser's", func(_, other string) (string, bool) { return other, true }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			f := newFixture(t)
			f.createAuthorization("WDJBMJHT")
			other := f.newPerson()
			other.open(f.pageURL)
			otherToken := other.page.FormWithButton("sign_in").Field("csrf_token").Value
			setToken := func(values url.Values) {
				value, keep := tc.token(values.Get("csrf_token"), otherToken)
				if keep {
					values.Set("csrf_token", value)
				} else {
					values.Del("csrf_token")
				}
			}
			p := f.newPerson()

			// Sign-in is protected too, against login CSRF.
			p.open(f.pageURL)
			values := formValues(t, p.page, "sign_in")
			values.Set("username", "alice")
			values.Set("password", alicePassword)
			setToken(values)
			resp := p.postRaw(f.pageURL, values, nil)
			g.Expect(resp.StatusCode).To(Equal(http.StatusForbidden))
			g.Expect(resp.Header.Values("Set-Cookie")).NotTo(ContainElement(HavePrefix("deviceauth_session=")))

			p.signIn(f.completeURL("WDJB-MJHT"), "alice", alicePassword)
			lookup := formValues(t, p.page, "lookup")
			p.press("lookup", nil)
			for _, values := range []url.Values{lookup, formValues(t, p.page, "approve"), formValues(t, p.page, "deny")} {
				setToken(values)
				resp := p.postRaw(f.pageURL, values, nil)
				g.Expect(resp.StatusCode).To(Equal(http.StatusForbidden), values.Get("action"))
				body, _ := io.ReadAll(resp.Body)
				g.Expect(string(body)).To(ContainSubstring("This form has expired or was not sent from this page."))
			}
			g.Expect(f.authorization("WDJBMJHT").State).To(Equal(store.StatePending))

			// The page itself still works with its own token.
			g.Expect(p.press("approve", nil).Text).To(ContainSubstring("You can return to your device"))
		})
	}
}

func TestPostWithoutBrowserCookieIsRejected(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	p := f.newPerson()
	p.open(f.pageURL)
	values := formValues(t, p.page, "sign_in")
	values.Set("username", "alice")
	values.Set("password", alicePassword)

	// A cookie-less client replays the form and its token.
	req, err := http.NewRequest(http.MethodPost, f.pageURL, strings.NewReader(values.Encode()))
	g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()

	g.Expect(resp.StatusCode).To(Equal(http.StatusForbidden))
	body, _ := io.ReadAll(resp.Body)
	g.Expect(string(body)).To(ContainSubstring("Allow cookies for this site"))
}

func TestCrossOriginPostIsRejected(t *testing.T) {
	cases := []struct {
		name   string
		header http.Header
	}{
		{"fetch metadata", http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"http://attacker.test"}}},
		{"same site other origin", http.Header{"Sec-Fetch-Site": {"same-site"}}},
		{"origin only", http.Header{"Origin": {"http://attacker.test"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			f := newFixture(t)
			f.createAuthorization("WDJBMJHT")
			p := f.newPerson()
			p.signIn(f.completeURL("WDJB-MJHT"), "alice", alicePassword)
			p.press("lookup", nil)

			// Even with the right token, which an attacker could not read.
			resp := p.postRaw(f.pageURL, formValues(t, p.page, "approve"), tc.header)

			g.Expect(resp.StatusCode).To(Equal(http.StatusForbidden))
			body, _ := io.ReadAll(resp.Body)
			g.Expect(string(body)).To(ContainSubstring("sent from another site"))
			g.Expect(resp.Header.Get("Content-Security-Policy")).NotTo(BeEmpty())
			g.Expect(f.authorization("WDJBMJHT").State).To(Equal(store.StatePending))
		})
	}
}

func TestSessionCookieTamperingIsRejected(t *testing.T) {
	f := newFixture(t)
	f.setUsers(parseUsers(t, map[string]string{"alice": alicePassword, "bob": bobPassword, "mallory": "x"}))

	cases := []struct {
		name   string
		modify func(value string) string
	}{
		{"altered signature", flipLastChar},
		{"altered payload", func(v string) string {
			payload, signature, _ := strings.Cut(v, ".")
			return flipLastChar(payload) + "." + signature
		}},
		{"no signature", func(v string) string { payload, _, _ := strings.Cut(v, "."); return payload }},
		{"garbage", func(string) string { return "not-a-session" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			p := f.newPerson()
			p.signIn(f.pageURL, "mallory", "x")
			cookie := findCookie(t, p.client, f.pageURL, "deviceauth_session")

			replaceCookie(t, p.client, f.pageURL, cookie, tc.modify(cookie.Value))

			page := p.open(f.pageURL)
			g.Expect(page.FormWithButton("sign_in")).NotTo(BeNil())
			g.Expect(page.Text).NotTo(ContainSubstring("Signed in as"))
		})
	}
}

func TestSessionBelongsToOneBrowser(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	alice := f.newPerson()
	alice.signIn(f.pageURL, "alice", alicePassword)
	session := findCookie(t, alice.client, f.pageURL, "deviceauth_session")

	// Another browser with its own browser cookie gets alice's session
	// cookie, as a cookie planted from a sibling domain would arrive.
	other := f.newPerson()
	other.open(f.pageURL)
	replaceCookie(t, other.client, f.pageURL, session, session.Value)

	page := other.open(f.pageURL)
	g.Expect(page.FormWithButton("sign_in")).NotTo(BeNil())
	g.Expect(page.Text).NotTo(ContainSubstring("alice"))
}

func TestSessionEndsAfterLifetime(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	p := f.newPerson()
	p.signIn(f.pageURL, "alice", alicePassword)

	f.clock.Step(verification.SessionLifetime - time.Second)
	g.Expect(p.open(f.pageURL).FormWithButton("lookup")).NotTo(BeNil())

	f.createAuthorization("WDJBMJHT")
	p.open(f.completeURL("WDJB-MJHT"))
	f.clock.Step(time.Second)
	page := p.press("lookup", nil)
	g.Expect(page.Alert).To(Equal("Your session has ended. Sign in again to continue."))
	g.Expect(page.FormWithButton("sign_in").Field("user_code").Value).To(Equal("WDJBMJHT"))
	g.Expect(f.authorization("WDJBMJHT").State).To(Equal(store.StatePending))
}

func TestRemovedUserIsSignedOut(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	p := f.newPerson()
	p.signIn(f.pageURL, "bob", bobPassword)

	f.setUsers(parseUsers(t, map[string]string{"alice": alicePassword}))

	g.Expect(p.open(f.pageURL).FormWithButton("sign_in")).NotTo(BeNil())
}

func TestSessionKeyRotationSignsOut(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	p := f.newPerson()
	p.signIn(f.pageURL, "bob", bobPassword)

	f.setKey(randomBytes(t, verification.MinSessionKeyBytes))

	g.Expect(p.open(f.pageURL).FormWithButton("sign_in")).NotTo(BeNil())
}

func TestSignOut(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.createAuthorization("WDJBMJHT")
	p := f.newPerson()
	p.signIn(f.completeURL("WDJB-MJHT"), "alice", alicePassword)
	page := p.press("lookup", nil)
	g.Expect(page.FormWithButton("sign_out")).NotTo(BeNil())

	page = p.press("sign_out", nil)

	g.Expect(page.Alert).To(Equal("You are signed out."))
	g.Expect(page.FormWithButton("sign_in")).NotTo(BeNil())
	g.Expect(p.open(f.completeURL("WDJB-MJHT")).FormWithButton("sign_in")).NotTo(BeNil())
	g.Expect(f.authorization("WDJBMJHT").State).To(Equal(store.StatePending))
}

func TestFailedSignInsLockUserName(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	p := f.newPerson()
	for range verification.MaxFailedSignInsPerUser {
		page := p.signIn(f.pageURL, "alice", "guess")
		g.Expect(page.Alert).To(Equal("Wrong username or password."))
	}

	page := p.signIn(f.pageURL, "alice", alicePassword)
	g.Expect(page.Status).To(Equal(http.StatusTooManyRequests))
	g.Expect(page.Alert).To(Equal("Too many failed sign-ins. Try again in 15 minutes."))
	g.Expect(page.FormWithButton("lookup")).To(BeNil())

	other := f.newPerson()
	g.Expect(other.signIn(f.pageURL, "alice", alicePassword).Status).To(Equal(http.StatusTooManyRequests),
		"the lock is per user name, not per browser")
	g.Expect(other.signIn(f.pageURL, "bob", bobPassword).FormWithButton("lookup")).NotTo(BeNil(),
		"other users are not locked")

	f.clock.Step(verification.RateLimitWindow - time.Minute)
	g.Expect(p.signIn(f.pageURL, "alice", alicePassword).Alert).To(Equal(
		"Too many failed sign-ins. Try again in 1 minute."))
	f.clock.Step(time.Minute)
	g.Expect(p.signIn(f.pageURL, "alice", alicePassword).FormWithButton("lookup")).NotTo(BeNil())
	g.Expect(f.logs.String()).To(ContainSubstring("Locked a user name after too many failed sign-ins"))
	g.Expect(f.logs.String()).NotTo(ContainSubstring("guess"))
}

func TestSuccessfulSignInResetsUserFailures(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	p := f.newPerson()
	for range verification.MaxFailedSignInsPerUser - 1 {
		p.signIn(f.pageURL, "alice", "guess")
	}
	g.Expect(p.signIn(f.pageURL, "alice", alicePassword).FormWithButton("lookup")).NotTo(BeNil())
	p.press("sign_out", nil)

	for range verification.MaxFailedSignInsPerUser - 1 {
		p.signIn(f.pageURL, "alice", "guess")
	}
	g.Expect(p.signIn(f.pageURL, "alice", alicePassword).FormWithButton("lookup")).NotTo(BeNil())
}

func TestFailedSignInsLockAddress(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	p := f.newPerson()
	for i := range verification.MaxFailedSignInsPerAddress {
		// A different name each time stays under the per-user limit.
		page := p.signIn(f.pageURL, "user"+string(rune('A'+i%26))+string(rune('a'+i/26)), "guess")
		g.Expect(page.Status).To(Equal(http.StatusOK))
	}

	page := p.signIn(f.pageURL, "bob", bobPassword)
	g.Expect(page.Status).To(Equal(http.StatusTooManyRequests))
	g.Expect(page.FormWithButton("lookup")).To(BeNil())
	g.Expect(f.logs.String()).To(ContainSubstring(`"Locked an address after too many failed sign-ins" "address"="127.0.0.1"`))

	f.clock.Step(verification.RateLimitWindow)
	g.Expect(p.signIn(f.pageURL, "bob", bobPassword).FormWithButton("lookup")).NotTo(BeNil())
}

func TestWrongCodesLockCodeEntry(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.createAuthorization("WDJBMJHT")
	p := f.newPerson()
	p.signIn(f.pageURL, "alice", alicePassword)
	for range verification.MaxWrongUserCodesPerUser {
		page := p.press("lookup", map[string]string{"user_code": "BBBB-BBBB"})
		g.Expect(page.Alert).To(HavePrefix(invalidCodeAlert))
	}

	page := p.press("lookup", map[string]string{"user_code": "WDJB-MJHT"})
	g.Expect(page.Status).To(Equal(http.StatusTooManyRequests))
	g.Expect(page.Alert).To(Equal("Too many wrong codes. Try again in 15 minutes."))
	g.Expect(page.FormWithButton("approve")).To(BeNil())

	// Signing in again, in another browser, does not reset the count.
	other := f.newPerson()
	other.signIn(f.pageURL, "alice", alicePassword)
	page = other.press("lookup", map[string]string{"user_code": "WDJB-MJHT"})
	g.Expect(page.Status).To(Equal(http.StatusTooManyRequests))

	// Approving directly, skipping the lookup, is counted and locked too.
	values := formValues(t, other.page, "lookup")
	values.Set("action", "approve")
	values.Set("user_code", "WDJBMJHT")
	resp := other.postRaw(f.pageURL, values, nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusTooManyRequests))
	g.Expect(f.authorization("WDJBMJHT").State).To(Equal(store.StatePending))

	bob := f.newPerson()
	bob.signIn(f.pageURL, "bob", bobPassword)
	g.Expect(bob.press("lookup", map[string]string{"user_code": "WDJB-MJHT"}).FormWithButton("approve")).
		NotTo(BeNil(), "other users are not locked")

	f.clock.Step(verification.RateLimitWindow)
	f.createAuthorization("BCDFGHJK")
	p.open(f.pageURL)
	g.Expect(p.press("lookup", map[string]string{"user_code": "BCDF-GHJK"}).FormWithButton("approve")).
		NotTo(BeNil())
}

func TestDirectDecisionsOnGuessedCodesAreCounted(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.createAuthorization("WDJBMJHT")
	p := f.newPerson()
	p.signIn(f.pageURL, "alice", alicePassword)
	values := formValues(t, p.page, "lookup")
	values.Set("action", "approve")
	values.Set("user_code", "BBBBBBBB")
	for range verification.MaxWrongUserCodesPerUser {
		resp := p.postRaw(f.pageURL, values, nil)
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	}

	values.Set("user_code", "WDJBMJHT")
	resp := p.postRaw(f.pageURL, values, nil)

	g.Expect(resp.StatusCode).To(Equal(http.StatusTooManyRequests))
	g.Expect(f.authorization("WDJBMJHT").State).To(Equal(store.StatePending))
}

func TestMalformedCodesAreNotCounted(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.createAuthorization("WDJBMJHT")
	p := f.newPerson()
	p.signIn(f.pageURL, "alice", alicePassword)
	for range verification.MaxWrongUserCodesPerUser + 1 {
		page := p.press("lookup", map[string]string{"user_code": "AEIOU"})
		g.Expect(page.Alert).To(HavePrefix(invalidCodeAlert))
	}

	page := p.press("lookup", map[string]string{"user_code": "WDJB-MJHT"})
	g.Expect(page.FormWithButton("approve")).NotTo(BeNil())
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	f := newFixture(t)
	f.createAuthorization("WDJBMJHT")
	p := f.newPerson()
	responses := map[string]http.Header{}

	responses["sign-in page"] = p.open(f.completeURL("WDJB-MJHT")).Header
	responses["code page"] = p.press("sign_in", map[string]string{"username": "alice", "password": alicePassword}).Header
	responses["confirm page"] = p.press("lookup", nil).Header
	responses["result page"] = p.press("approve", nil).Header
	resp := p.postRaw(f.pageURL, url.Values{"action": {"approve"}}, nil)
	responses["CSRF error"] = resp.Header
	resp = p.postRaw(f.pageURL, url.Values{}, http.Header{"Sec-Fetch-Site": {"cross-site"}})
	responses["cross-origin error"] = resp.Header
	style, err := p.client.Get(f.pageURL + "/style.css")
	if err != nil {
		t.Fatal(err)
	}
	style.Body.Close()
	responses["stylesheet"] = style.Header

	for name, header := range responses {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			csp := header.Get("Content-Security-Policy")
			g.Expect(csp).To(ContainSubstring("default-src 'none'"))
			g.Expect(csp).To(ContainSubstring("form-action 'self'"))
			g.Expect(csp).To(ContainSubstring("frame-ancestors 'none'"))
			g.Expect(csp).To(ContainSubstring("style-src 'self'"))
			g.Expect(csp).NotTo(ContainSubstring("script-src"))
			g.Expect(header.Get("X-Frame-Options")).To(Equal("DENY"))
			g.Expect(header.Get("Referrer-Policy")).To(Equal("no-referrer"))
			g.Expect(header.Get("Cache-Control")).To(Equal("no-store"))
			g.Expect(header.Get("X-Content-Type-Options")).To(Equal("nosniff"))
		})
	}
}

func TestFormsPostToPathWithoutQuery(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	p := f.newPerson()

	page := p.open(f.completeURL("WDJB-MJHT"))

	for _, form := range page.Forms {
		g.Expect(form.Action.String()).To(Equal(f.pageURL), "a form without action would post to the URL with the code")
	}
}

func TestCookieAttributes(t *testing.T) {
	for _, tc := range []struct {
		issuer string
		secure bool
	}{
		{"", false},
		{"https://auth.example.test/tenant", true},
	} {
		t.Run("issuer "+tc.issuer, func(t *testing.T) {
			g := NewWithT(t)
			f := newFixtureWith(t, fixtureOptions{issuerPath: "/tenant", displayName: clientDisplayName})
			if tc.issuer != "" {
				c := *f.currentConfig().Config
				c.Issuer = tc.issuer
				f.setConfig(&c)
			}
			p := f.newPerson()
			p.open(f.pageURL)
			values := formValues(t, p.page, "sign_in")
			values.Set("username", "alice")
			values.Set("password", alicePassword)

			resp := p.postRaw(f.pageURL, values, nil)

			g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
			cookies := resp.Cookies()
			g.Expect(cookies).To(HaveLen(2))
			for _, c := range cookies {
				g.Expect(c.Path).To(Equal("/tenant/device"), c.Name)
				g.Expect(c.HttpOnly).To(BeTrue(), c.Name)
				g.Expect(c.SameSite).To(Equal(http.SameSiteLaxMode), c.Name)
				g.Expect(c.Secure).To(Equal(tc.secure), c.Name)
			}
			session := cookieNamed(cookies, "deviceauth_session")
			g.Expect(session).NotTo(BeNil())
			g.Expect(session.MaxAge).To(Equal(3600))
			g.Expect(session.Value).NotTo(ContainSubstring(alicePassword))
		})
	}
}

func TestIssuerPathPrefix(t *testing.T) {
	g := NewWithT(t)
	f := newFixtureWith(t, fixtureOptions{issuerPath: "/tenant", displayName: clientDisplayName})
	f.createAuthorization("WDJBMJHT")
	g.Expect(f.pageURL).To(HaveSuffix("/tenant/device"))

	g.Expect(verificationtest.Approve(context.Background(), f.newClient(), f.completeURL("WDJB-MJHT"),
		"alice", alicePassword)).To(Succeed())
	g.Expect(f.authorization("WDJBMJHT").State).To(Equal(store.StateApproved))

	resp, err := http.Get(f.server.URL + "/device")
	g.Expect(err).NotTo(HaveOccurred())
	resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusNotFound))
}

func TestPathPrefixFromIssuer(t *testing.T) {
	cases := map[string]string{
		"https://auth.example.test":          "",
		"https://auth.example.test/":         "",
		"https://auth.example.test/tenant":   "/tenant",
		"https://auth.example.test/a/b/":     "/a/b",
		"http://127.0.0.1:8080/tenant-one/x": "/tenant-one/x",
	}
	for issuer, want := range cases {
		t.Run(issuer, func(t *testing.T) {
			g := NewWithT(t)
			got, err := verification.PathPrefixFromIssuer(issuer)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(want))
		})
	}
}

func TestDisplayNameIsEscaped(t *testing.T) {
	g := NewWithT(t)
	name := `<script>alert("x")</script><img src=x>`
	f := newFixtureWith(t, fixtureOptions{displayName: name})
	f.createAuthorization("WDJBMJHT")
	p := f.newPerson()
	p.signIn(f.completeURL("WDJB-MJHT"), "alice", alicePassword)
	values := formValues(t, p.page, "lookup")

	resp := p.postRaw(f.pageURL, values, nil)
	body, err := io.ReadAll(resp.Body)

	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(body)).To(ContainSubstring("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x&gt;"))
	g.Expect(string(body)).NotTo(ContainSubstring("<script"))
	g.Expect(string(body)).NotTo(ContainSubstring("<img"))
}

func TestClientIDShownWithoutDisplayName(t *testing.T) {
	g := NewWithT(t)
	f := newFixtureWith(t, fixtureOptions{displayName: ""})
	f.createAuthorization("WDJBMJHT")
	p := f.newPerson()
	p.signIn(f.completeURL("WDJB-MJHT"), "alice", alicePassword)

	page := p.press("lookup", nil)

	g.Expect(page.Text).To(ContainSubstring(clientID + " on a device is asking to sign in as you."))
}

func TestRemovedClientCannotBeApproved(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.createAuthorization("WDJBMJHT")
	p := f.newPerson()
	p.signIn(f.completeURL("WDJB-MJHT"), "alice", alicePassword)
	p.press("lookup", nil)

	c := *f.currentConfig().Config
	c.Clients = nil
	f.setConfig(&c)
	page := p.press("approve", nil)

	g.Expect(page.Alert).To(HavePrefix(invalidCodeAlert))
	g.Expect(f.authorization("WDJBMJHT").State).To(Equal(store.StatePending))
}

func TestLargeBodyIsRejected(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	p := f.newPerson()
	p.open(f.pageURL)
	values := formValues(t, p.page, "sign_in")
	values.Set("username", strings.Repeat("a", 64<<10))

	resp := p.postRaw(f.pageURL, values, nil)

	g.Expect(resp.StatusCode).To(Equal(http.StatusRequestEntityTooLarge))
}

func TestStoreFailureShowsUnavailable(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.createAuthorization("WDJBMJHT")
	p := f.newPerson()
	p.signIn(f.completeURL("WDJB-MJHT"), "alice", alicePassword)
	values := formValues(t, p.page, "lookup")

	g.Expect(f.store.Close()).To(Succeed())
	resp := p.postRaw(f.pageURL, values, nil)

	g.Expect(resp.StatusCode).To(Equal(http.StatusServiceUnavailable))
	body, _ := io.ReadAll(resp.Body)
	g.Expect(string(body)).To(ContainSubstring("The sign-in service is unavailable right now."))
	g.Expect(f.logs.String()).To(ContainSubstring("looking up user code"))
	g.Expect(f.logs.String()).NotTo(ContainSubstring("WDJB"))
}

func TestShortSessionKeyShowsUnavailable(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.setKey(make([]byte, verification.MinSessionKeyBytes-1))

	page := f.newPerson().open(f.pageURL)

	g.Expect(page.Status).To(Equal(http.StatusServiceUnavailable))
	g.Expect(page.Forms).To(BeEmpty())
	g.Expect(f.logs.String()).To(ContainSubstring("session key has 31 bytes, need at least 32"))
}

func TestMissingConfigShowsUnavailable(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.mu.Lock()
	f.snapshot = nil
	f.mu.Unlock()

	page := f.newPerson().open(f.pageURL)

	g.Expect(page.Status).To(Equal(http.StatusServiceUnavailable))
}

func TestNumericKeyboardForDigitCodes(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	p := f.newPerson()
	page := p.signIn(f.pageURL, "alice", alicePassword)
	g.Expect(page.FormWithButton("lookup")).NotTo(BeNil())

	c := *f.currentConfig().Config
	c.Clients = []config.Client{c.Clients[0]}
	c.Clients[0].UserCodeCharset = config.UserCodeDigits
	c.Clients[0].UserCodeLength = 9
	f.setConfig(&c)
	values := formValues(t, p.open(f.pageURL), "lookup")

	resp := p.postRaw(f.pageURL, values, nil)
	body, _ := io.ReadAll(resp.Body)
	g.Expect(string(body)).To(ContainSubstring(`inputmode="numeric"`))
}

func flipLastChar(s string) string {
	if s == "" {
		return "A"
	}
	last := s[len(s)-1]
	replacement := byte('A')
	if last == 'A' {
		replacement = 'B'
	}
	return s[:len(s)-1] + string(replacement)
}

func findCookie(t *testing.T, client *http.Client, rawURL, name string) *http.Cookie {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	c := cookieNamed(client.Jar.Cookies(u), name)
	if c == nil {
		t.Fatalf("no cookie %s for %s", name, rawURL)
	}
	return c
}

// replaceCookie stores value under the cookie's name for the page path,
// replacing what the jar holds.
func replaceCookie(t *testing.T, client *http.Client, rawURL string, cookie *http.Cookie, value string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	client.Jar.SetCookies(u, []*http.Cookie{{Name: cookie.Name, Value: value, Path: u.Path}})
}

func cookieNamed(cookies []*http.Cookie, name string) *http.Cookie {
	for _, c := range cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestConfirmHidesScopesRemovedByReload(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.createAuthorization("WDJBMJHT")

	reloaded := *f.currentConfig().Config
	reloaded.Clients = slices.Clone(reloaded.Clients)
	for i := range reloaded.Clients {
		if reloaded.Clients[i].ClientID == clientID {
			reloaded.Clients[i].Scopes = []string{"openid"}
		}
	}
	f.setConfig(&reloaded)

	p := f.newPerson()
	p.open(f.completeURL("WDJB-MJHT"))
	p.press("sign_in", map[string]string{"username": "alice", "password": alicePassword})
	page := p.press("lookup", nil)
	g.Expect(page.Status).To(Equal(http.StatusOK))
	g.Expect(page.Text).To(ContainSubstring("openid"))
	g.Expect(page.Text).NotTo(ContainSubstring("groups"), "the client may no longer request groups")
}
