// Package verificationtest drives the verification page over HTTP the way a
// person with a browser without JavaScript would: it opens the page, reads
// its HTML forms, fills in the visible fields and presses buttons. It
// never calls the store, so what it does is what a person could do.
package verificationtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// maxPageBytes bounds how much of a response the browser reads.
const maxPageBytes = 1 << 20

// Browser keeps cookies and submits forms as a browser does: the fields a
// form contains with their current values, plus the name and value of the
// button pressed, and the Origin and Sec-Fetch-Site headers of a form post.
type Browser struct {
	client *http.Client
}

// NewBrowser returns a Browser that sends requests with client. When
// client has no cookie jar, the Browser uses a copy of it with a new one.
// A nil client means http.DefaultClient.
func NewBrowser(client *http.Client) *Browser {
	if client == nil {
		client = http.DefaultClient
	}
	if client.Jar == nil {
		withJar := *client
		withJar.Jar, _ = cookiejar.New(nil) // cookiejar.New returns no error without options
		client = &withJar
	}
	return &Browser{client: client}
}

// Page is a loaded HTML page.
type Page struct {
	URL    *url.URL
	Status int
	Header http.Header

	// Title is the text of the <title> element.
	Title string

	// Alert is the text of the first element with role="alert", where the
	// page reports what went wrong.
	Alert string

	// Text is the page's text content with whitespace collapsed.
	Text string

	Forms []*Form
}

// Form is one <form> of a page with the values a browser would submit.
type Form struct {
	Action *url.URL
	Method string

	// Fields are the form's named controls in document order.
	Fields []*Field

	Buttons []Button
}

// Field is a named form control.
type Field struct {
	Name  string
	Type  string
	Value string

	// Required and MaxLength are the constraints a browser checks before
	// it submits, JavaScript or not. MaxLength is -1 without a limit.
	Required  bool
	MaxLength int

	// Enabled is false for a checkbox or radio button that is not checked,
	// or a disabled control: the browser leaves such controls out.
	Enabled bool
}

// Button is a submit button.
type Button struct {
	Name  string
	Value string
	Label string
}

// Field returns the form's field with the given name, or nil.
func (f *Form) Field(name string) *Field {
	for _, field := range f.Fields {
		if field.Name == name {
			return field
		}
	}
	return nil
}

// FormWithButton returns the first form with a submit button whose value
// is value, or nil.
func (p *Page) FormWithButton(value string) *Form {
	for _, f := range p.Forms {
		for _, b := range f.Buttons {
			if b.Value == value {
				return f
			}
		}
	}
	return nil
}

// Get opens rawURL as when a person types it into the address bar.
func (b *Browser) Get(ctx context.Context, rawURL string) (*Page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Sec-Fetch-Site", "none")
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	return b.load(req)
}

// Submit fills the named fields of the form on page that has a button
// with value button, then presses that button. Like a person, it can only
// type into fields that exist and are not hidden. It returns an error,
// before sending anything, when a required field is empty or a value is
// longer than the field allows.
func (b *Browser) Submit(ctx context.Context, page *Page, button string, fill map[string]string) (*Page, error) {
	form := page.FormWithButton(button)
	if form == nil {
		return nil, fmt.Errorf("page %q has no form with a %q button", page.Title, button)
	}
	body, err := form.encode(button, fill)
	if err != nil {
		return nil, fmt.Errorf("page %q: %w", page.Title, err)
	}
	if !strings.EqualFold(form.Method, http.MethodPost) {
		return nil, fmt.Errorf("page %q: the %q form uses method %q; only post is supported",
			page.Title, button, form.Method)
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, form.Action.String(), strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin(page.URL))
	site := "cross-site"
	if origin(form.Action) == origin(page.URL) {
		site = "same-origin"
	}
	req.Header.Set("Sec-Fetch-Site", site)
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	return b.load(req)
}

// encode returns the form's submission body with the button pressed.
func (f *Form) encode(button string, fill map[string]string) (string, error) {
	for name := range fill {
		field := f.Field(name)
		if field == nil {
			return "", fmt.Errorf("form has no field %q", name)
		}
		if field.Type == "hidden" {
			return "", fmt.Errorf("field %q is hidden; a person cannot type into it", name)
		}
	}

	values := url.Values{}
	for _, field := range f.Fields {
		if !field.Enabled {
			continue
		}
		value := field.Value
		if typed, ok := fill[field.Name]; ok {
			value = typed
		}
		if field.Required && value == "" {
			return "", fmt.Errorf("required field %q is empty", field.Name)
		}
		if field.MaxLength >= 0 && utf8.RuneCountInString(value) > field.MaxLength {
			return "", fmt.Errorf("field %q takes at most %d characters", field.Name, field.MaxLength)
		}
		values.Add(field.Name, value)
	}
	for _, b := range f.Buttons {
		if b.Value == button && b.Name != "" {
			values.Add(b.Name, b.Value)
			break
		}
	}
	return values.Encode(), nil
}

func (b *Browser) load(req *http.Request) (*Page, error) {
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()

	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		return nil, fmt.Errorf("%s %s: status %d with Content-Type %q, not an HTML page",
			req.Method, pathOnly(req.URL), resp.StatusCode, ct)
	}
	doc, err := html.Parse(io.LimitReader(resp.Body, maxPageBytes))
	if err != nil {
		return nil, fmt.Errorf("%s %s: parsing HTML: %w", req.Method, pathOnly(req.URL), err)
	}
	page := &Page{URL: resp.Request.URL, Status: resp.StatusCode, Header: resp.Header}
	page.read(doc)
	return page, nil
}

// pathOnly returns the URL without its query, which can carry a user code.
func pathOnly(u *url.URL) string {
	return u.Scheme + "://" + u.Host + u.Path
}

func origin(u *url.URL) string {
	return u.Scheme + "://" + u.Host
}

// read fills the page from its parsed document.
func (p *Page) read(doc *html.Node) {
	var text strings.Builder
	var walk func(n *html.Node, form *Form)
	walk = func(n *html.Node, form *Form) {
		if n.Type == html.TextNode {
			text.WriteString(n.Data)
			text.WriteString(" ")
		}
		if n.Type == html.ElementNode {
			switch n.DataAtom {
			case atom.Title:
				p.Title = collapse(textOf(n))
			case atom.Form:
				form = p.newForm(n)
				p.Forms = append(p.Forms, form)
			case atom.Input, atom.Button, atom.Textarea, atom.Select:
				if form != nil {
					form.addControl(n)
				}
			}
			if p.Alert == "" && attr(n, "role") == "alert" {
				p.Alert = collapse(textOf(n))
			}
			if n.DataAtom == atom.Script || n.DataAtom == atom.Style || n.DataAtom == atom.Title {
				return
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, form)
		}
	}
	walk(doc, nil)
	p.Text = collapse(text.String())
}

func (p *Page) newForm(n *html.Node) *Form {
	action := p.URL
	if a, ok := attrOK(n, "action"); ok {
		if resolved, err := p.URL.Parse(a); err == nil {
			action = resolved
		}
	}
	method := strings.ToLower(attr(n, "method"))
	if method == "" {
		method = "get"
	}
	return &Form{Action: action, Method: method}
}

// addControl records a control as the HTML form submission algorithm sees
// it: buttons and submit inputs become buttons, the rest fields.
func (f *Form) addControl(n *html.Node) {
	name := attr(n, "name")
	_, disabled := attrOK(n, "disabled")
	switch n.DataAtom {
	case atom.Button:
		kind := strings.ToLower(attr(n, "type"))
		if (kind == "" || kind == "submit") && !disabled {
			f.Buttons = append(f.Buttons, Button{Name: name, Value: attr(n, "value"), Label: collapse(textOf(n))})
		}
		return
	case atom.Input:
		kind := strings.ToLower(attr(n, "type"))
		if kind == "" {
			kind = "text"
		}
		switch kind {
		case "submit":
			if !disabled {
				f.Buttons = append(f.Buttons, Button{Name: name, Value: attr(n, "value"), Label: attr(n, "value")})
			}
			return
		case "button", "reset", "image", "file":
			return
		}
		if name == "" {
			return
		}
		_, checked := attrOK(n, "checked")
		enabled := !disabled && ((kind != "checkbox" && kind != "radio") || checked)
		value := attr(n, "value")
		if (kind == "checkbox" || kind == "radio") && value == "" {
			value = "on"
		}
		f.Fields = append(f.Fields, newField(n, name, kind, value, enabled))
	case atom.Textarea:
		if name != "" {
			f.Fields = append(f.Fields, newField(n, name, "textarea", textOf(n), !disabled))
		}
	case atom.Select:
		if name != "" {
			f.Fields = append(f.Fields, newField(n, name, "select", selectedOption(n), !disabled))
		}
	}
}

func newField(n *html.Node, name, kind, value string, enabled bool) *Field {
	_, required := attrOK(n, "required")
	field := &Field{Name: name, Type: kind, Value: value, Required: required, MaxLength: -1, Enabled: enabled}
	if raw, ok := attrOK(n, "maxlength"); ok {
		var limit int
		if _, err := fmt.Sscanf(raw, "%d", &limit); err == nil && limit >= 0 {
			field.MaxLength = limit
		}
	}
	return field
}

// selectedOption returns the value of the selected option, or of the
// first option when none is selected.
func selectedOption(n *html.Node) string {
	var first, selected *html.Node
	var walk func(*html.Node)
	walk = func(c *html.Node) {
		if c.Type == html.ElementNode && c.DataAtom == atom.Option {
			if first == nil {
				first = c
			}
			if _, ok := attrOK(c, "selected"); ok && selected == nil {
				selected = c
			}
		}
		for child := c.FirstChild; child != nil; child = child.NextSibling {
			walk(child)
		}
	}
	walk(n)
	if selected == nil {
		selected = first
	}
	if selected == nil {
		return ""
	}
	if v, ok := attrOK(selected, "value"); ok {
		return v
	}
	return collapse(textOf(selected))
}

func attr(n *html.Node, key string) string {
	v, _ := attrOK(n, key)
	return v
}

func attrOK(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
		for child := c.FirstChild; child != nil; child = child.NextSibling {
			walk(child)
		}
	}
	walk(n)
	return b.String()
}

func collapse(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
