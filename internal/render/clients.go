package render

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/deviceauth/deviceauth-operator/api/v1alpha1"
	"github.com/deviceauth/deviceauth-operator/internal/config"
)

// ClientSecretKey is the key of a confidential client's secret in its Secret.
const ClientSecretKey = "clientSecret"

// MaxClientIDLength is the longest clientID the CRD schema accepts. A
// clientID taken from metadata.name may be longer, since names run to 253
// characters.
const MaxClientIDLength = 128

// Endpoint paths, appended to the issuer URL byte for byte.
const (
	DeviceAuthorizationPath = "/oauth2/device_authorization"
	TokenPath               = "/oauth2/token"
	VerificationPath        = "/device"
)

// ClientVerdict is the outcome of resolving one DeviceAuthClient against
// its server: whether the server serves it, why not, and the values in force.
type ClientVerdict struct {
	// Client is the DeviceAuthClient's namespace and name.
	Client types.NamespacedName

	// ClientID is the OAuth client_id: spec.clientID, else metadata.name.
	ClientID string

	// SecretName is the Secret holding a Confidential client's secret, in
	// the client's namespace. Empty for Public clients.
	SecretName string

	// Polling, UserCode and Endpoints are the values in force. They are nil
	// when the client is not attached to a server, because the server's
	// defaults and issuer are part of them.
	Polling   *v1alpha1.ResolvedPolling
	UserCode  *v1alpha1.ResolvedUserCode
	Endpoints *v1alpha1.ClientEndpoints

	// Accepted reports whether the server serves the client. Reason is a
	// CamelCase condition reason, and Message explains it to a person and
	// names the fix.
	Accepted bool
	Reason   string
	Message  string

	// Stalled reports whether the spec itself is invalid, so that no retry
	// can fix it until someone changes a spec.
	Stalled bool

	// Config is the registry entry to render. It is set only when Accepted.
	Config config.Client
}

// ClientSecretName returns the Secret that holds a Confidential client's
// secret: spec.secretName, else the generated <name>-client-secret. It
// returns "" for Public clients.
func ClientSecretName(client *v1alpha1.DeviceAuthClient) string {
	if clientType(client) != v1alpha1.ClientTypeConfidential {
		return ""
	}
	if client.Spec.SecretName != "" {
		return client.Spec.SecretName
	}
	return GeneratedClientSecretName(client)
}

// GeneratedClientSecretName returns the name of the Secret the operator
// generates for a Confidential client without spec.secretName.
func GeneratedClientSecretName(client *v1alpha1.DeviceAuthClient) string {
	return client.Name + "-client-secret"
}

// ClientID returns the OAuth client_id of client: spec.clientID, else
// metadata.name.
func ClientID(client *v1alpha1.DeviceAuthClient) string {
	if client.Spec.ClientID != "" {
		return client.Spec.ClientID
	}
	return client.Name
}

// ServerRef returns the namespace and name of the server that client
// references. An unset namespace is the client's own.
func ServerRef(client *v1alpha1.DeviceAuthClient) types.NamespacedName {
	namespace := client.Spec.ServerRef.Namespace
	if namespace == "" {
		namespace = client.Namespace
	}
	return types.NamespacedName{Namespace: namespace, Name: client.Spec.ServerRef.Name}
}

// Endpoints returns the URLs a CLI needs, derived from the server's issuer.
func Endpoints(server *v1alpha1.DeviceAuthServer) v1alpha1.ClientEndpoints {
	issuer := server.Spec.IssuerURL
	return v1alpha1.ClientEndpoints{
		Issuer:              issuer,
		DeviceAuthorization: issuer + DeviceAuthorizationPath,
		Token:               issuer + TokenPath,
		Verification:        issuer + VerificationPath,
	}
}

// ServerNotFoundVerdict returns the verdict for a client whose server does
// not exist.
func ServerNotFoundVerdict(client *v1alpha1.DeviceAuthClient) ClientVerdict {
	ref := ServerRef(client)
	return ClientVerdict{
		Client:     keyOf(client),
		ClientID:   ClientID(client),
		SecretName: ClientSecretName(client),
		Reason:     v1alpha1.ReasonServerNotFound,
		Message: fmt.Sprintf("DeviceAuthServer %s not found: create it or correct spec.serverRef",
			ref),
	}
}

// ResolveClients returns a verdict for each client in clients that
// references server, sorted by namespace and name. Clients that reference
// another server or are being deleted get none. secrets holds the Secrets
// that ClientSecretName names; a missing entry means the Secret does not
// exist.
//
// When clients in allowed namespaces claim one clientID, the one with the
// oldest creationTimestamp keeps it. Ties go to the first by namespace and
// then name, and the others get ClientIDConflict. A client keeps its claim
// while its policy or Secret is invalid, so that a Secret being recreated
// cannot hand the ID to another client for a moment.
func ResolveClients(
	server *v1alpha1.DeviceAuthServer,
	clients []v1alpha1.DeviceAuthClient,
	secrets map[types.NamespacedName]*corev1.Secret,
) []ClientVerdict {
	serverKey := types.NamespacedName{Namespace: server.Namespace, Name: server.Name}
	var attached []*v1alpha1.DeviceAuthClient
	for i := range clients {
		client := &clients[i]
		if ServerRef(client) == serverKey && client.DeletionTimestamp == nil {
			attached = append(attached, client)
		}
	}
	slices.SortFunc(attached, compareAge)

	resolver := clientResolver{
		server:    server,
		endpoints: Endpoints(server),
		secrets:   secrets,
		owners:    make(map[string]*v1alpha1.DeviceAuthClient),
	}
	verdicts := make([]ClientVerdict, 0, len(attached))
	for _, client := range attached {
		verdicts = append(verdicts, resolver.resolve(client))
	}

	slices.SortFunc(verdicts, func(a, b ClientVerdict) int {
		return cmp.Or(
			cmp.Compare(a.Client.Namespace, b.Client.Namespace),
			cmp.Compare(a.Client.Name, b.Client.Name),
		)
	})
	return verdicts
}

// clientResolver resolves the clients of one server, oldest first, and
// remembers which client claimed each clientID.
type clientResolver struct {
	server    *v1alpha1.DeviceAuthServer
	endpoints v1alpha1.ClientEndpoints
	secrets   map[types.NamespacedName]*corev1.Secret
	owners    map[string]*v1alpha1.DeviceAuthClient
}

// resolve checks one client in order: its namespace, its clientID and the
// claim on it, its policy, and its Secret. The first failure decides the
// verdict.
func (r *clientResolver) resolve(client *v1alpha1.DeviceAuthClient) ClientVerdict {
	verdict := ClientVerdict{
		Client:     keyOf(client),
		ClientID:   ClientID(client),
		SecretName: ClientSecretName(client),
	}
	reject := func(reason, message string) ClientVerdict {
		verdict.Reason, verdict.Message = reason, message
		return verdict
	}
	if !namespaceAllowed(r.server, client) {
		return reject(v1alpha1.ReasonNamespaceNotAllowed, namespaceNotAllowedMessage(r.server, client))
	}

	endpoints := r.endpoints
	verdict.Endpoints = &endpoints
	policy := resolvePolicy(r.server, client)
	verdict.Polling = &policy.polling
	verdict.UserCode = &policy.userCode

	if len(verdict.ClientID) > MaxClientIDLength {
		verdict.Stalled = true
		return reject(v1alpha1.ReasonInvalidSpec, fmt.Sprintf(
			"clientID %q taken from metadata.name is longer than %d characters: set a shorter spec.clientID",
			verdict.ClientID, MaxClientIDLength))
	}
	if owner, claimed := r.owners[verdict.ClientID]; claimed {
		return reject(v1alpha1.ReasonClientIDConflict, conflictMessage(verdict.ClientID, client, owner))
	}
	r.owners[verdict.ClientID] = client

	if problem := policy.problem(); problem != "" {
		verdict.Stalled = true
		return reject(v1alpha1.ReasonInvalidSpec, problem)
	}

	entry := config.Client{
		ClientID:         verdict.ClientID,
		DisplayName:      client.Spec.DisplayName,
		Type:             config.ClientTypePublic,
		Scopes:           sortedScopes(client.Spec.Scopes),
		IntervalSeconds:  policy.polling.IntervalSeconds,
		ExpiresInSeconds: policy.polling.ExpiresInSeconds,
		UserCodeCharset:  configCharset(policy.userCode.Charset),
		UserCodeLength:   policy.userCode.Length,
	}
	if verdict.SecretName != "" {
		hash, reason, message := secretHash(client, verdict.SecretName, r.secrets)
		if reason != "" {
			return reject(reason, message)
		}
		entry.Type = config.ClientTypeConfidential
		entry.SecretSHA256 = hash
	}

	verdict.Accepted = true
	verdict.Reason = v1alpha1.ReasonAccepted
	verdict.Message = fmt.Sprintf("DeviceAuthServer %s/%s serves this client as clientID %q",
		r.server.Namespace, r.server.Name, verdict.ClientID)
	verdict.Config = entry
	return verdict
}

// compareAge orders clients oldest first, then by namespace and name.
func compareAge(a, b *v1alpha1.DeviceAuthClient) int {
	return cmp.Or(
		a.CreationTimestamp.Time.Compare(b.CreationTimestamp.Time),
		cmp.Compare(a.Namespace, b.Namespace),
		cmp.Compare(a.Name, b.Name),
	)
}

func keyOf(client *v1alpha1.DeviceAuthClient) types.NamespacedName {
	return types.NamespacedName{Namespace: client.Namespace, Name: client.Name}
}

func clientType(client *v1alpha1.DeviceAuthClient) v1alpha1.ClientType {
	if client.Spec.ClientType == "" {
		return v1alpha1.ClientTypePublic
	}
	return client.Spec.ClientType
}

func namespaceAllowed(server *v1alpha1.DeviceAuthServer, client *v1alpha1.DeviceAuthClient) bool {
	if server.Spec.AllowedClientNamespaces == v1alpha1.AllowedClientNamespacesAll {
		return true
	}
	return client.Namespace == server.Namespace
}

func namespaceNotAllowedMessage(server *v1alpha1.DeviceAuthServer, client *v1alpha1.DeviceAuthClient) string {
	return fmt.Sprintf(
		"DeviceAuthServer %s/%s accepts clients from its own namespace only (allowedClientNamespaces: Same), "+
			"and this client is in namespace %q: move the client to namespace %q or set "+
			"allowedClientNamespaces: All on the server",
		server.Namespace, server.Name, client.Namespace, server.Namespace)
}

// conflictMessage names the client that keeps the ID only when it is in the
// same namespace, so that a conflict does not reveal object names across
// namespaces.
func conflictMessage(clientID string, client, owner *v1alpha1.DeviceAuthClient) string {
	holder := "an older DeviceAuthClient in another namespace"
	if owner.Namespace == client.Namespace {
		holder = fmt.Sprintf("the older DeviceAuthClient %q", owner.Name)
	}
	return fmt.Sprintf("clientID %q is already used by %s: set another spec.clientID", clientID, holder)
}

// secretHash returns the hex SHA-256 of the client's secret, or a reason and
// message when the Secret or its key is missing. The secret's bytes are
// hashed as stored, with no trimming.
func secretHash(
	client *v1alpha1.DeviceAuthClient,
	secretName string,
	secrets map[types.NamespacedName]*corev1.Secret,
) (hash, reason, message string) {
	secret := secrets[types.NamespacedName{Namespace: client.Namespace, Name: secretName}]
	if secret == nil {
		if client.Spec.SecretName == "" {
			return "", v1alpha1.ReasonSecretNotFound, fmt.Sprintf(
				"waiting for the operator to generate Secret %q", secretName)
		}
		return "", v1alpha1.ReasonSecretNotFound, fmt.Sprintf(
			"Secret %q not found in namespace %q: create it with the key %q, or remove spec.secretName "+
				"to have the operator generate one", secretName, client.Namespace, ClientSecretKey)
	}
	value := secret.Data[ClientSecretKey]
	if len(value) == 0 {
		return "", v1alpha1.ReasonInvalidSecret, fmt.Sprintf(
			"Secret %q has no key %q or it is empty: put the client secret under that key",
			secretName, ClientSecretKey)
	}
	sum := sha256.Sum256(value)
	return hex.EncodeToString(sum[:]), "", ""
}

func sortedScopes(scopes []string) []string {
	if len(scopes) == 0 {
		return nil
	}
	sorted := slices.Clone(scopes)
	slices.Sort(sorted)
	return slices.Compact(sorted)
}

func configCharset(charset v1alpha1.UserCodeCharset) config.UserCodeCharset {
	if charset == v1alpha1.UserCodeCharsetDigits {
		return config.UserCodeDigits
	}
	return config.UserCodeLetters
}
