package v1alpha1_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedFilesUpToDate runs controller-gen into a temporary folder and
// compares its output with the committed CRDs, RBAC role and DeepCopy
// methods, so that a marker or type change without regeneration fails.
func TestGeneratedFilesUpToDate(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()

	controllerGen(t, root, "object", "paths=./api/...", "output:object:dir="+filepath.Join(out, "object"))
	controllerGen(t, root, "rbac:roleName=manager-role", "crd", "paths=./...",
		"output:crd:artifacts:config="+filepath.Join(out, "crd"),
		"output:rbac:artifacts:config="+filepath.Join(out, "rbac"))

	compareDirs(t, filepath.Join(out, "crd"), filepath.Join(root, "config", "crd", "bases"))
	compareFiles(t, filepath.Join(out, "rbac", "role.yaml"), filepath.Join(root, "config", "rbac", "role.yaml"))
	compareFiles(t,
		filepath.Join(out, "object", "zz_generated.deepcopy.go"),
		filepath.Join(root, "api", "v1alpha1", "zz_generated.deepcopy.go"))
}

func controllerGen(t *testing.T, root string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", append([]string{"tool", "controller-gen"}, args...)...)
	cmd.Dir = root
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go tool controller-gen %v failed: %v\n%s", args, err, output)
	}
}

// compareDirs checks that committed holds exactly the files of generated,
// with the same content.
func compareDirs(t *testing.T, generated, committed string) {
	t.Helper()
	want := fileNames(t, generated)
	got := fileNames(t, committed)
	for name := range want {
		if !got[name] {
			t.Errorf("%s is missing: run make manifests", filepath.Join(committed, name))
			continue
		}
		compareFiles(t, filepath.Join(generated, name), filepath.Join(committed, name))
	}
	for name := range got {
		if !want[name] {
			t.Errorf("%s is not generated any more: delete it", filepath.Join(committed, name))
		}
	}
}

func fileNames(t *testing.T, dir string) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := make(map[string]bool, len(entries))
	for _, e := range entries {
		if !e.IsDir() {
			names[e.Name()] = true
		}
	}
	return names
}

func compareFiles(t *testing.T, generated, committed string) {
	t.Helper()
	want, err := os.ReadFile(generated)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(committed)
	if err != nil {
		t.Errorf("reading %s: %v: run make generate manifests", committed, err)
		return
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from controller-gen's output: run make generate manifests", committed)
	}
}
