package deviceflow

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
)

// maxBodyBytes bounds a request body. Real requests carry a few hundred
// bytes.
const maxBodyBytes = 64 << 10

// form is the parameters of a request body. The query string is never
// read: RFC 6749 and RFC 8628 send every parameter in the body, and a URL
// ends up in logs and proxies.
type form url.Values

// readForm reads an application/x-www-form-urlencoded body, ignoring any
// charset parameter of the media type, and rejects a repeat of any of the
// parameters in known. Unknown parameters are ignored, repeated or not:
// clients send scope when polling, and RFC 8707 lets a request repeat
// resource.
func readForm(w http.ResponseWriter, r *http.Request, known ...string) (form, error) {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != formMediaType {
		return nil, newError(errInvalidRequest, "the request body must be %s", formMediaType)
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, newError(errInvalidRequest, "the request body is larger than %d bytes", maxBodyBytes)
		}
		return nil, newError(errInvalidRequest, "reading the request body failed")
	}

	values, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, newError(errInvalidRequest, "the request body is not a valid form")
	}
	for _, name := range known {
		if len(values[name]) > 1 {
			return nil, newError(errInvalidRequest, "the parameter %s is repeated", name)
		}
	}
	return form(values), nil
}

// get returns the parameter's value, or "" when it is absent.
func (f form) get(name string) string {
	if v := f[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}
