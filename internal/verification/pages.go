package verification

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"

	"github.com/deviceauth/deviceauth-operator/internal/config"
	"github.com/deviceauth/deviceauth-operator/internal/store"
	"github.com/deviceauth/deviceauth-operator/internal/usercode"
)

//go:embed templates/*.html templates/style.css
var files embed.FS

// pages holds one template per page, each made of the shared layout and
// the page's content block.
var pages = map[string]*template.Template{
	"signin":  parsePage("signin"),
	"code":    parsePage("code"),
	"confirm": parsePage("confirm"),
	"done":    parsePage("done"),
	"error":   parsePage("error"),
}

func parsePage(name string) *template.Template {
	return template.Must(template.ParseFS(files, "templates/layout.html", "templates/"+name+".html"))
}

var style = mustRead("templates/style.css")

func mustRead(name string) []byte {
	b, err := files.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return b
}

// view is the data of every page template. Fields that a page does not
// use stay empty.
type view struct {
	Title     string
	Message   string
	PagePath  string
	StylePath string
	CSRFToken string

	// User is the signed-in user, shown with a sign-out button.
	User string

	// UserCode is the normalized user code that hidden fields carry, and
	// FormattedCode the same code as the person reads it.
	UserCode      string
	FormattedCode string

	// Username pre-fills the sign-in form after a failed attempt.
	Username string

	// NumericCode selects the numeric keyboard on phones, when every
	// client uses digit codes.
	NumericCode bool

	ClientName string
	ClientID   string
	Scopes     []string

	Approved bool
}

func (h *Handler) baseView(x *exchange, title, message string) view {
	return view{
		Title:     title,
		Message:   message,
		PagePath:  h.pagePath,
		StylePath: h.stylePath,
		CSRFToken: csrfToken(x.key, x.browserID),
		User:      x.user,
	}
}

func (h *Handler) renderSignIn(x *exchange, status int, code, username, message string) error {
	v := h.baseView(x, "Sign in to connect a device", message)
	v.UserCode = code
	v.Username = username
	return h.render(x.w, status, "signin", v)
}

func (h *Handler) renderCodeForm(x *exchange, status int, code, message string) error {
	v := h.baseView(x, "Connect a device", message)
	if code != "" {
		v.FormattedCode = usercode.Format(code)
	}
	v.NumericCode = allClientsUseDigits(x.snapshot)
	return h.render(x.w, status, "code", v)
}

func (h *Handler) renderConfirm(x *exchange, auth store.Authorization, client *config.Client) error {
	v := h.baseView(x, "Allow this device?", "")
	v.UserCode = auth.UserCode
	v.FormattedCode = usercode.Format(auth.UserCode)
	v.ClientID = client.ClientID
	v.ClientName = client.DisplayName
	if v.ClientName == "" {
		v.ClientName = client.ClientID
	}
	v.Scopes = client.GrantableScopes(auth.Scopes)
	return h.render(x.w, http.StatusOK, "confirm", v)
}

func (h *Handler) renderDone(x *exchange, approved bool) error {
	title := "Device denied"
	if approved {
		title = "Device approved"
	}
	v := h.baseView(x, title, "")
	v.Approved = approved
	return h.render(x.w, http.StatusOK, "done", v)
}

// renderError shows an error page. It has no form, so it needs no CSRF
// token and works before begin has read the request.
func (h *Handler) renderError(w http.ResponseWriter, status int, message string) {
	v := view{
		Title:     http.StatusText(status),
		Message:   message,
		PagePath:  h.pagePath,
		StylePath: h.stylePath,
	}
	if err := h.render(w, status, "error", v); err != nil {
		h.log.Error(err, "Rendering error page failed")
	}
}

// render executes a page into a buffer first, so that a template error
// becomes an error page instead of half a page.
func (h *Handler) render(w http.ResponseWriter, status int, name string, v view) error {
	var body bytes.Buffer
	if err := pages[name].ExecuteTemplate(&body, "layout", v); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if _, err := w.Write(body.Bytes()); err != nil {
		h.log.V(1).Info("Writing the verification page failed", "error", err.Error())
	}
	return nil
}

func serveStyle(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	// A failed write means the browser went away, so nothing is left to do.
	_, _ = w.Write(style)
}

func allClientsUseDigits(snapshot *config.Snapshot) bool {
	clients := snapshot.Config.Clients
	for _, c := range clients {
		if c.UserCodeCharset != config.UserCodeDigits {
			return false
		}
	}
	return len(clients) > 0
}
