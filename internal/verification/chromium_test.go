package verification_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	. "github.com/onsi/gomega"

	"github.com/deviceauth/deviceauth-operator/internal/store"
)

// chromiumPath is Debian's chromium package. The test fails without it.
const chromiumPath = "/usr/bin/chromium"

// screenshotDirVariable names a directory that keeps the phone screenshots
// for a person to look at. Without it they go to a temporary directory.
const screenshotDirVariable = "VERIFICATION_SCREENSHOT_DIR"

// Phone viewport in CSS pixels, as on a common 6.1-inch phone.
const (
	phoneWidth  = 390
	phoneHeight = 844
)

func TestChromiumSignInAndApprove(t *testing.T) {
	g := NewWithT(t)
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("%s is missing (apt-get install -y chromium): %v", chromiumPath, err)
	}
	f := newFixture(t)
	f.createAuthorization("WDJBMJHT")
	ctx := newChromium(t)
	shots := screenshotDir(t)

	g.Expect(chromedp.Do(ctx,
		chromedp.EmulateViewport(phoneWidth, phoneHeight,
			chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait),
		chromedp.Navigate(f.completeURL("WDJB-MJHT")),
		chromedp.WaitVisible(chromedp.ID("username")),
	)).To(Succeed())
	screenshot(t, ctx, shots, "1-sign-in.png")

	g.Expect(chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("username"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), alicePassword),
		chromedp.Click(chromedp.CSS(`button[value="sign_in"]`)),
		chromedp.WaitVisible(chromedp.ID("user_code")),
	)).To(Succeed())
	prefilled, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("user_code")))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(prefilled).To(Equal("WDJB-MJHT"))
	location, err := chromedp.Run(ctx, chromedp.Location())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(location).To(Equal(f.pageURL), "after sign-in the address bar holds no user code")
	screenshot(t, ctx, shots, "2-code.png")

	g.Expect(chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button[value="lookup"]`)),
		chromedp.WaitVisible(chromedp.CSS(".code-display")),
	)).To(Succeed())
	displayedCode, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".code-display")))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(displayedCode).To(Equal("WDJB-MJHT"))
	g.Expect(f.authorization("WDJBMJHT").State).To(Equal(store.StatePending))
	g.Expect(approveButtonColor(t, ctx)).To(Equal("rgb(11, 92, 173)"),
		"the stylesheet loads under the Content-Security-Policy")
	screenshot(t, ctx, shots, "3-confirm.png")

	g.Expect(chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button[value="approve"]`)),
		chromedp.WaitVisible(chromedp.CSS(".result")),
	)).To(Succeed())
	result, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".result")))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(result).To(ContainSubstring("You can return to your device"))
	screenshot(t, ctx, shots, "4-done.png")

	auth := f.authorization("WDJBMJHT")
	g.Expect(auth.State).To(Equal(store.StateApproved))
	g.Expect(auth.Subject).To(Equal("alice"))
}

// newChromium starts headless Chromium with a fresh profile and returns a
// context for one tab.
func newChromium(t *testing.T) context.Context {
	t.Helper()
	// NOTE: the deadline only keeps a hung browser from blocking the test
	// run. No step depends on how long another takes.
	parent, cancelParent := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancelParent)
	allocator, cancelAllocator := chromedp.NewExecAllocator(parent,
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	t.Cleanup(cancelAllocator)
	ctx, cancel := chromedp.NewContext(allocator)
	t.Cleanup(cancel)
	return ctx
}

func approveButtonColor(t *testing.T, ctx context.Context) string {
	t.Helper()
	style, err := chromedp.Run(ctx, chromedp.ComputedStyle(chromedp.CSS(`button[value="approve"]`)))
	if err != nil {
		t.Fatalf("reading the Approve button's style: %v", err)
	}
	for _, property := range style {
		if property.Name == "background-color" {
			return property.Value
		}
	}
	return ""
}

func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(screenshotDirVariable)
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("taking screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
