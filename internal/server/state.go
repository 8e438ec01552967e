package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/deviceauth/deviceauth-operator/internal/config"
	"github.com/deviceauth/deviceauth-operator/internal/deviceflow"
	"github.com/deviceauth/deviceauth-operator/internal/htpasswd"
	"github.com/deviceauth/deviceauth-operator/internal/keys"
)

// State is everything the server reads from outside that may change while
// it runs. It is replaced whole on each reload.
type State struct {
	Config *config.Snapshot
	Keys   *keys.Set
	Users  *htpasswd.Users
}

// source loads the State and names the directories whose changes call for
// a reload.
type source interface {
	Load(ctx context.Context) (*State, error)
	Dirs() []string
}

// mountedSource reads the files that the operator renders into Secrets and
// kubelet mounts into the pod.
type mountedSource struct {
	configPath   string
	keysDir      string
	htpasswdPath string
}

func (s *mountedSource) Load(context.Context) (*State, error) {
	cfg, err := config.Load(s.configPath)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.configPath, err)
	}
	keySet, err := keys.LoadDir(s.keysDir)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(s.htpasswdPath)
	if err != nil {
		return nil, fmt.Errorf("reading users: %w", err)
	}
	users, err := htpasswd.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.htpasswdPath, err)
	}
	return newState(cfg, keySet, users)
}

// newState checks what the config files cannot check alone and indexes the
// config.
func newState(cfg *config.Config, keySet *keys.Set, users *htpasswd.Users) (*State, error) {
	if _, err := deviceflow.IssuerPath(cfg.Issuer); err != nil {
		return nil, fmt.Errorf("config issuer %q: %w", cfg.Issuer, err)
	}
	return &State{Config: config.NewSnapshot(cfg), Keys: keySet, Users: users}, nil
}

func (s *mountedSource) Dirs() []string {
	return uniqueDirs(filepath.Dir(s.configPath), s.keysDir, filepath.Dir(s.htpasswdPath))
}

func uniqueDirs(dirs ...string) []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range dirs {
		d = filepath.Clean(d)
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}
