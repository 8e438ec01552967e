package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Error codes of the token endpoint that end a login (RFC 8628 section 3.5).
const (
	errorAccessDenied = "access_denied"
	errorExpiredToken = "expired_token"
)

// clientSecretEnv is read when --client-secret is not given, so that the
// secret need not appear in the process list or the shell history.
const clientSecretEnv = "DEVICEAUTH_CLIENT_SECRET"

// requestTimeout bounds each HTTP request, not the whole login.
const requestTimeout = 30 * time.Second

type loginOptions struct {
	issuer       string
	clientID     string
	clientSecret string
	scopes       []string
	printToken   bool

	// httpClient makes every request; tests leave it nil for the default.
	httpClient *http.Client
}

func runLogin(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, err := parseLoginFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "deviceauth login:", err)
		return 2
	}
	if err := login(ctx, opts, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "deviceauth login:", err)
		return 1
	}
	return 0
}

func parseLoginFlags(args []string, stderr io.Writer) (*loginOptions, error) {
	fs := flag.NewFlagSet("deviceauth login", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := &loginOptions{}
	var scopes string
	fs.StringVar(&opts.issuer, "issuer", "", "issuer URL of the authorization server, such as https://auth.example.com (required)")
	fs.StringVar(&opts.clientID, "client-id", "", "OAuth client ID (required)")
	fs.StringVar(&opts.clientSecret, "client-secret", "",
		"secret of a confidential client; default $"+clientSecretEnv)
	fs.StringVar(&scopes, "scopes", "", `space-separated scopes to request, such as "openid profile"`)
	fs.BoolVar(&opts.printToken, "print-token", false, "print the access token to standard output on success")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: deviceauth login --issuer URL --client-id ID [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if opts.issuer == "" || opts.clientID == "" {
		return nil, errors.New("--issuer and --client-id are required")
	}
	if opts.clientSecret == "" {
		opts.clientSecret = os.Getenv(clientSecretEnv)
	}
	opts.scopes = strings.Fields(scopes)
	return opts, nil
}

// login runs the device authorization grant. Instructions for the person
// go to stderr; stdout gets the access token only with --print-token, so
// that it can be captured by a script.
func login(ctx context.Context, opts *loginOptions, stdout, stderr io.Writer) error {
	issuer, err := parseIssuer(opts.issuer)
	if err != nil {
		return err
	}
	client := opts.httpClient
	if client == nil {
		client = &http.Client{Timeout: requestTimeout}
	}

	md, err := fetchMetadata(ctx, client, issuer, opts.issuer)
	if err != nil {
		return err
	}
	cfg := &oauth2.Config{
		ClientID:     opts.clientID,
		ClientSecret: opts.clientSecret,
		Scopes:       opts.scopes,
		Endpoint: oauth2.Endpoint{
			DeviceAuthURL: md.DeviceAuthorizationEndpoint,
			TokenURL:      md.TokenEndpoint,
			AuthStyle:     authStyle(md, opts.clientSecret),
		},
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, client)

	auth, err := cfg.DeviceAuth(ctx)
	if err != nil {
		return describeError("device authorization request", err)
	}
	printInstructions(stderr, auth)

	token, err := cfg.DeviceAccessToken(ctx, auth)
	if err != nil {
		return pollError(ctx, err)
	}

	claims, err := verifyAccessToken(ctx, client, md, opts.clientID, token.AccessToken, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "Logged in to %s as %s\n", md.Issuer, claims.Subject)
	if opts.printToken {
		fmt.Fprintln(stdout, token.AccessToken)
	}
	return nil
}

// authStyle picks how the client authenticates at the token endpoint. A
// public client sends client_id in the body (auth method "none"). A
// confidential client uses HTTP Basic unless the server lists only
// client_secret_post. A fixed style also spares each poll the second try
// that x/oauth2's auto-detection makes after a failure.
func authStyle(md *serverMetadata, secret string) oauth2.AuthStyle {
	if secret == "" {
		return oauth2.AuthStyleInParams
	}
	methods := md.TokenEndpointAuthMethodsSupported
	if len(methods) > 0 && !slices.Contains(methods, "client_secret_basic") && slices.Contains(methods, "client_secret_post") {
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader
}

func printInstructions(w io.Writer, auth *oauth2.DeviceAuthResponse) {
	fmt.Fprintf(w, "To sign in, open %s and enter the code %s\n", auth.VerificationURI, auth.UserCode)
	if auth.VerificationURIComplete != "" {
		fmt.Fprintf(w, "Or open %s, which has the code filled in.\n", auth.VerificationURIComplete)
	}
	if !auth.Expiry.IsZero() {
		fmt.Fprintf(w, "Waiting for approval; the code expires in %s.\n", time.Until(auth.Expiry).Round(time.Second))
	}
}

// pollError explains why polling the token endpoint ended.
func pollError(ctx context.Context, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		switch re.ErrorCode {
		case errorAccessDenied:
			return errors.New("login was denied on the verification page")
		case errorExpiredToken:
			return errors.New("the code expired before it was approved; run deviceauth login again")
		}
	}
	if ctx.Err() != nil {
		return errors.New("login cancelled")
	}
	// x/oauth2 stops polling at the code's expiry with its own deadline,
	// possibly before the server has returned expired_token.
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("the code expired before it was approved; run deviceauth login again")
	}
	return describeError("token request", err)
}

// describeError turns an OAuth error response into its code and
// description, and a failed connection into an unreachable-server message.
func describeError(request string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.ErrorCode == "" {
			return fmt.Errorf("%s failed: HTTP %d", request, re.Response.StatusCode)
		}
		if re.ErrorDescription == "" {
			return fmt.Errorf("%s failed: %s", request, re.ErrorCode)
		}
		return fmt.Errorf("%s failed: %s: %s", request, re.ErrorCode, re.ErrorDescription)
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return fmt.Errorf("%s failed: cannot reach the server: %w", request, err)
	}
	return fmt.Errorf("%s failed: %w", request, err)
}
