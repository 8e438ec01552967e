package deviceflow

// Endpoint paths below the issuer's path. Every endpoint URL is the issuer
// followed by one of these, byte for byte.
const (
	DeviceAuthorizationPath = "/oauth2/device_authorization"
	TokenPath               = "/oauth2/token"
	JWKSPath                = "/oauth2/jwks"

	// VerificationPath is the verification page, which package
	// verification serves. verification_uri points there.
	VerificationPath = "/device"
)

// Metadata paths. RFC 8414 section 3 inserts its well-known path between
// the issuer's host and path, while OpenID Connect Discovery 1.0 section 4
// appends its path to the issuer.
const (
	OAuthMetadataPath       = "/.well-known/oauth-authorization-server"
	OpenIDConfigurationPath = "/.well-known/openid-configuration"
)

// GrantTypeDeviceCode is the grant_type of RFC 8628 section 3.4.
const GrantTypeDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"

// Request parameters.
const (
	paramGrantType    = "grant_type"
	paramClientID     = "client_id"
	paramClientSecret = "client_secret"
	paramDeviceCode   = "device_code"
	paramScope        = "scope"
	paramUserCode     = "user_code"
)

// Error codes of RFC 6749 section 5.2 and RFC 8628 section 3.5.
const (
	errInvalidRequest         = "invalid_request"
	errInvalidClient          = "invalid_client"
	errInvalidGrant           = "invalid_grant"
	errInvalidScope           = "invalid_scope"
	errUnsupportedGrantType   = "unsupported_grant_type"
	errAuthorizationPending   = "authorization_pending"
	errSlowDown               = "slow_down"
	errAccessDenied           = "access_denied"
	errExpiredToken           = "expired_token"
	errServerError            = "server_error"
	errTemporarilyUnavailable = "temporarily_unavailable"
)

// Client authentication methods of RFC 7591 section 2, as the metadata
// lists them.
const (
	authMethodNone              = "none"
	authMethodClientSecretBasic = "client_secret_basic"
	authMethodClientSecretPost  = "client_secret_post"
)

const (
	tokenTypeBearer = "Bearer"

	// formMediaType is the only request body type the endpoints accept.
	formMediaType = "application/x-www-form-urlencoded"

	// basicRealm is the realm of the WWW-Authenticate challenge sent with
	// invalid_client to a client that tried HTTP Basic.
	basicRealm = "deviceauth"
)

// Outcomes of successful requests, for logs and metrics. Failed requests
// use their error code.
const (
	outcomeDeviceCodeIssued  = "device_code_issued"
	outcomeAccessTokenIssued = "access_token_issued"
	outcomeServed            = "served"
)
