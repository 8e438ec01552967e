package verificationtest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/deviceauth/deviceauth-operator/internal/usercode"
)

// Values of the page's buttons, which the page submits in its action
// field.
const (
	ButtonSignIn  = "sign_in"
	ButtonSignOut = "sign_out"
	ButtonLookup  = "lookup"
	ButtonApprove = "approve"
	ButtonDeny    = "deny"
)

// Approve opens pageURL, a verification_uri_complete, signs in as user,
// submits the pre-filled code, checks that the confirmation shows the code
// from the URL, and approves. client may be shared with other calls: a
// session it already holds is reused instead of signing in again.
func Approve(ctx context.Context, client *http.Client, pageURL, user, password string) error {
	return decideComplete(ctx, client, pageURL, user, password, ButtonApprove)
}

// Deny is Approve with the Deny button.
func Deny(ctx context.Context, client *http.Client, pageURL, user, password string) error {
	return decideComplete(ctx, client, pageURL, user, password, ButtonDeny)
}

// ApproveTypedCode opens verificationURI, signs in as user, types
// userCode into the code form, as a person who reads it off the device
// does, and approves.
func ApproveTypedCode(ctx context.Context, client *http.Client, verificationURI, userCode, user, password string) error {
	p := person{browser: NewBrowser(client), user: user, password: password}
	return p.decide(ctx, verificationURI, userCode, true, ButtonApprove)
}

// DenyTypedCode is ApproveTypedCode with the Deny button.
func DenyTypedCode(ctx context.Context, client *http.Client, verificationURI, userCode, user, password string) error {
	p := person{browser: NewBrowser(client), user: user, password: password}
	return p.decide(ctx, verificationURI, userCode, true, ButtonDeny)
}

func decideComplete(ctx context.Context, client *http.Client, pageURL, user, password, button string) error {
	u, err := url.Parse(pageURL)
	if err != nil {
		return fmt.Errorf("parsing the verification URL: %w", err)
	}
	code := u.Query().Get("user_code")
	if code == "" {
		return fmt.Errorf("verification URL %s has no user_code parameter", pathOnly(u))
	}
	p := person{browser: NewBrowser(client), user: user, password: password}
	return p.decide(ctx, pageURL, code, false, button)
}

// person is a scripted person with an account on the page.
type person struct {
	browser  *Browser
	user     string
	password string
}

// decide walks the page from pageURL to the result of pressing button on
// the confirmation. With typeCode it types code into the code form.
// Without it, it expects the form to be pre-filled with code.
func (p person) decide(ctx context.Context, pageURL, code string, typeCode bool, button string) error {
	page, err := p.browser.Get(ctx, pageURL)
	if err != nil {
		return fmt.Errorf("opening the verification page: %w", err)
	}
	if err := expect(page, "opening the verification page"); err != nil {
		return err
	}

	if page.FormWithButton(ButtonLookup) == nil {
		page, err = p.signIn(ctx, page)
		if err != nil {
			return err
		}
	}

	page, err = p.submitCode(ctx, page, code, typeCode)
	if err != nil {
		return err
	}

	want, ok := usercode.Normalize(code)
	if !ok {
		return fmt.Errorf("the user code to compare is not a valid user code")
	}
	if !strings.Contains(page.Text, usercode.Format(want)) {
		return fmt.Errorf("the confirmation page does not show the code %s: %q", usercode.Format(want), page.Text)
	}

	page, err = p.browser.Submit(ctx, page, button, nil)
	if err != nil {
		return fmt.Errorf("pressing %s: %w", button, err)
	}
	if err := expect(page, "pressing "+button); err != nil {
		return err
	}
	if !strings.Contains(page.Text, "You can return to your device") {
		return fmt.Errorf("pressing %s: page %q does not confirm the decision: %q", button, page.Title, page.Text)
	}
	return nil
}

func (p person) signIn(ctx context.Context, page *Page) (*Page, error) {
	if page.FormWithButton(ButtonSignIn) == nil {
		return nil, fmt.Errorf("page %q has neither a sign-in form nor a code form: %q", page.Title, page.Text)
	}
	page, err := p.browser.Submit(ctx, page, ButtonSignIn, map[string]string{
		"username": p.user,
		"password": p.password,
	})
	if err != nil {
		return nil, fmt.Errorf("signing in as %s: %w", p.user, err)
	}
	if err := expect(page, "signing in as "+p.user); err != nil {
		return nil, err
	}
	if page.FormWithButton(ButtonLookup) == nil {
		return nil, fmt.Errorf("signing in as %s failed: %s", p.user, describe(page))
	}
	return page, nil
}

func (p person) submitCode(ctx context.Context, page *Page, code string, typeCode bool) (*Page, error) {
	form := page.FormWithButton(ButtonLookup)
	field := form.Field("user_code")
	if field == nil {
		return nil, fmt.Errorf("the code form has no user_code field")
	}
	var fill map[string]string
	if typeCode {
		fill = map[string]string{"user_code": code}
	} else if field.Value == "" {
		return nil, fmt.Errorf("the code form is not pre-filled from the verification URL")
	}

	page, err := p.browser.Submit(ctx, page, ButtonLookup, fill)
	if err != nil {
		return nil, fmt.Errorf("submitting the code: %w", err)
	}
	if err := expect(page, "submitting the code"); err != nil {
		return nil, err
	}
	if page.FormWithButton(ButtonApprove) == nil || page.FormWithButton(ButtonDeny) == nil {
		return nil, fmt.Errorf("submitting the code did not lead to a confirmation: %s", describe(page))
	}
	return page, nil
}

// expect returns an error for a page whose status is not 200 OK.
func expect(page *Page, step string) error {
	if page.Status != http.StatusOK {
		return fmt.Errorf("%s: status %d: %s", step, page.Status, describe(page))
	}
	return nil
}

// describe returns what a person would read first on page.
func describe(page *Page) string {
	if page.Alert != "" {
		return fmt.Sprintf("page %q says %q", page.Title, page.Alert)
	}
	return fmt.Sprintf("page %q", page.Title)
}
