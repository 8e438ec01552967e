package server

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/deviceauth/deviceauth-operator/api/v1alpha1"
	"github.com/deviceauth/deviceauth-operator/internal/config"
	"github.com/deviceauth/deviceauth-operator/internal/htpasswd"
	"github.com/deviceauth/deviceauth-operator/internal/keys"
	"github.com/deviceauth/deviceauth-operator/internal/manifests"
	"github.com/deviceauth/deviceauth-operator/internal/render"
)

// standaloneSource renders the state from a folder of manifests with the
// operator's own rendering. What the operator would generate and store in
// Secrets (signing keys, the secrets of confidential clients without
// secretName) is generated on first need and kept in memory for the life of
// the process, unless the folder has those Secrets.
type standaloneSource struct {
	dir string

	// defaultIssuer is the issuer of a manifest without issuerURL: http on
	// the bound loopback address.
	defaultIssuer string
	loader        *manifests.Loader

	generatedKeys    *keys.Set
	generatedSecrets map[types.NamespacedName]*corev1.Secret
}

func newStandaloneSource(dir, defaultIssuer string) (*standaloneSource, error) {
	loader, err := manifests.NewLoader(manifests.WithDefaultIssuerURL(defaultIssuer))
	if err != nil {
		return nil, err
	}
	return &standaloneSource{
		dir:              dir,
		defaultIssuer:    defaultIssuer,
		loader:           loader,
		generatedSecrets: map[types.NamespacedName]*corev1.Secret{},
	}, nil
}

func (s *standaloneSource) Dirs() []string { return []string{s.dir} }

func (s *standaloneSource) Load(ctx context.Context) (*State, error) {
	log := logr.FromContextOrDiscard(ctx)
	bundle, err := s.loader.LoadDir(ctx, s.dir)
	if err != nil {
		return nil, err
	}
	for _, id := range bundle.Ignored {
		log.V(1).Info("Ignoring a manifest of a kind standalone mode does not use", "object", id)
	}
	server := bundle.Server
	s.warnIssuerPort(log, server)

	users, err := s.users(bundle)
	if err != nil {
		return nil, err
	}
	keySet, err := s.keys(ctx, bundle)
	if err != nil {
		return nil, err
	}
	s.addGeneratedClientSecrets(ctx, bundle)

	serverKey := types.NamespacedName{Namespace: server.Namespace, Name: server.Name}
	for i := range bundle.Clients {
		client := &bundle.Clients[i]
		if render.ServerRef(client) != serverKey {
			v := render.ServerNotFoundVerdict(client)
			log.Info("Client not served", "client", v.Client.String(), "reason", v.Reason, "message", v.Message)
		}
	}
	verdicts := render.ResolveClients(server, bundle.Clients, bundle.Secrets)
	for _, v := range verdicts {
		if !v.Accepted {
			log.Info("Client not served", "client", v.Client.String(), "reason", v.Reason, "message", v.Message)
		}
	}
	cfg, err := render.Config(server, verdicts)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("rendered config is invalid: %w", err)
	}
	return newState(cfg, keySet, users)
}

// warnIssuerPort logs when the manifest's issuer is on loopback but on
// another port than the server listens on, since every URL the server
// sends would then point at the wrong port.
func (s *standaloneSource) warnIssuerPort(log logr.Logger, server *v1alpha1.DeviceAuthServer) {
	issuer, err := url.Parse(server.Spec.IssuerURL)
	if err != nil {
		return
	}
	bound, err := url.Parse(s.defaultIssuer)
	if err != nil || issuer.Port() == bound.Port() {
		return
	}
	ip := net.ParseIP(issuer.Hostname())
	if issuer.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return
	}
	log.Info("The manifest's issuerURL is on another port than --listen, so the endpoint URLs the server sends will not reach it",
		"issuerURL", server.Spec.IssuerURL,
		"listenPort", bound.Port(),
		"hint", "set spec.issuerURL to "+s.defaultIssuer+" or remove it")
}

func (s *standaloneSource) users(bundle *manifests.Bundle) (*htpasswd.Users, error) {
	server := bundle.Server
	name := server.Spec.UserAuthentication.Static.SecretName
	secret := bundle.Secret(server.Namespace, name)
	if secret == nil {
		return nil, fmt.Errorf("the htpasswd Secret %s/%s of DeviceAuthServer %s is not in %s: add it with the key %q",
			server.Namespace, name, server.Name, s.dir, config.HtpasswdFileName)
	}
	data, ok := secret.Data[config.HtpasswdFileName]
	if !ok {
		return nil, fmt.Errorf("Secret %s/%s has no key %q: add the htpasswd file under that key",
			server.Namespace, name, config.HtpasswdFileName)
	}
	users, err := htpasswd.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("Secret %s/%s key %q: %w", server.Namespace, name, config.HtpasswdFileName, err)
	}
	return users, nil
}

// keys uses the folder's <server>-keys Secret when there is one, else keys
// generated once for this process.
func (s *standaloneSource) keys(ctx context.Context, bundle *manifests.Bundle) (*keys.Set, error) {
	server := bundle.Server
	name := render.KeysSecretName(server)
	if secret := bundle.Secret(server.Namespace, name); secret != nil {
		keySet, err := keys.FromSecretData(secret.Data)
		if err != nil {
			return nil, fmt.Errorf("Secret %s/%s: %w", server.Namespace, name, err)
		}
		return keySet, nil
	}
	if s.generatedKeys == nil {
		keySet, err := keys.Generate()
		if err != nil {
			return nil, err
		}
		s.generatedKeys = keySet
		logr.FromContextOrDiscard(ctx).Info("Generated signing keys in memory; tokens will not verify after a restart",
			"hint", fmt.Sprintf("add a Secret %s/%s to the folder to keep them", server.Namespace, name))
	}
	return s.generatedKeys, nil
}

// addGeneratedClientSecrets gives each confidential client without
// secretName the Secret the operator would have generated, unless the
// folder already has it.
func (s *standaloneSource) addGeneratedClientSecrets(ctx context.Context, bundle *manifests.Bundle) {
	for i := range bundle.Clients {
		client := &bundle.Clients[i]
		if client.Spec.ClientType != v1alpha1.ClientTypeConfidential || client.Spec.SecretName != "" {
			continue
		}
		key := types.NamespacedName{Namespace: client.Namespace, Name: render.GeneratedClientSecretName(client)}
		if bundle.Secrets[key] != nil {
			continue
		}
		if s.generatedSecrets[key] == nil {
			s.generatedSecrets[key] = &corev1.Secret{
				Data: map[string][]byte{render.ClientSecretKey: render.GenerateClientSecret()},
			}
			logr.FromContextOrDiscard(ctx).Info("Generated a client secret in memory; no one can use it until you choose one",
				"client", client.Namespace+"/"+client.Name,
				"hint", fmt.Sprintf("add a Secret %s with the key %s to the folder", key, render.ClientSecretKey))
		}
		bundle.Secrets[key] = s.generatedSecrets[key]
	}
}

// issuerForListener is the issuer of a standalone server whose manifest
// sets no issuerURL: http on the bound loopback address, or on 127.0.0.1
// when the listen address has no host or a wildcard one.
func issuerForListener(listen string, bound net.Addr) string {
	port := "0"
	if tcp, ok := bound.(*net.TCPAddr); ok {
		port = strconv.Itoa(tcp.Port)
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil || host == "" {
		host = "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
