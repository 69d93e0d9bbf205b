package keyfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestCreateThenReload(t *testing.T) {
	dir := t.TempDir()
	s1, err := PermissionSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, PermissionSecretFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v, %v; want 0600", st.Mode(), err)
	}
	s2, err := PermissionSecret(dir)
	if err != nil || !bytes.Equal(s1, s2) {
		t.Fatalf("reloaded secret differs: %v", err)
	}
	k1, err := SigningKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := SigningKey(dir)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("reloaded signing key differs: %v", err)
	}
}

func TestRefusals(t *testing.T) {
	cases := []struct {
		name    string
		content []byte
		mode    os.FileMode
		want    error
	}{
		{"world readable", make([]byte, 32), 0o644, ErrReadableByOthers},
		{"group readable", make([]byte, 32), 0o640, ErrReadableByOthers},
		{"group writable", make([]byte, 32), 0o620, ErrReadableByOthers},
		{"short", make([]byte, 16), 0o600, ErrSize},
		{"long", make([]byte, 33), 0o600, ErrSize},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, PermissionSecretFile)
			if err := os.WriteFile(p, tc.content, tc.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(p, tc.mode)
			_, err := PermissionSecret(dir)
			var refused *RefusedError
			if !errors.Is(err, tc.want) || !errors.As(err, &refused) {
				t.Fatalf("PermissionSecret = %v, want a *RefusedError wrapping %v", err, tc.want)
			}
			if refused.Path != p || refused.Mode != tc.mode || refused.Size != len(tc.content) {
				t.Errorf("refused %s mode %04o size %d, want %s %04o %d", refused.Path, refused.Mode, refused.Size, p, tc.mode, len(tc.content))
			}
		})
	}
}

// Replicas starting together on one data directory must all get the same
// secret, and none may read the file while another is still writing it.
func TestConcurrentCreation(t *testing.T) {
	for range 20 {
		dir := t.TempDir()
		const n = 8
		secrets := make([][]byte, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				secrets[i], errs[i] = PermissionSecret(dir)
			}()
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("creator %d: %v", i, errs[i])
			}
			if !bytes.Equal(secrets[i], secrets[0]) {
				t.Fatalf("creator %d got a different secret than creator 0", i)
			}
		}
		if names, _ := os.ReadDir(dir); len(names) != 1 {
			t.Fatalf("data directory holds %d files after creation, want only the secret", len(names))
		}
	}
}
