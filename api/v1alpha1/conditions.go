package v1alpha1

// Condition types.
const (
	// ConditionReady summarises an object: kubectl wait and Argo CD read it.
	ConditionReady = "Ready"

	// ConditionAccepted reports that a client is valid and attached to a server
	// that allows it.
	ConditionAccepted = "Accepted"

	// ConditionStalled reports that the spec is wrong in a way no retry can fix.
	ConditionStalled = "Stalled"
)

// Condition reasons.
const (
	ReasonAccepted            = "Accepted"
	ReasonReady               = "Ready"
	ReasonServerNotFound      = "ServerNotFound"
	ReasonNamespaceNotAllowed = "NamespaceNotAllowed"
	ReasonClientIDConflict    = "ClientIDConflict"
	ReasonSecretNotFound      = "SecretNotFound"
	ReasonInvalidSecret       = "InvalidSecret"
	ReasonNotAccepted         = "NotAccepted"
	ReasonConfigPending       = "ConfigPending"
	ReasonInvalidSpec         = "InvalidSpec"
	ReasonConfigTooLarge      = "ConfigTooLarge"
	ReasonDeploymentPending   = "DeploymentPending"
	ReasonUsersSecretNotFound = "UsersSecretNotFound"
	ReasonInvalidUsersSecret  = "InvalidUsersSecret"
	ReasonReconcileFailed     = "ReconcileFailed"
)
