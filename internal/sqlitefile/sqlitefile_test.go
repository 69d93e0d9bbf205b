package sqlitefile

import (
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestDSN(t *testing.T) {
	params := url.Values{"_journal_mode": {"WAL"}}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path, want string
		err        error
	}{
		{"/var/lib/pact/device.db", "file:/var/lib/pact/device.db?_journal_mode=WAL", nil},
		{"/data/dev?ice.db", "file:/data/dev%3fice.db?_journal_mode=WAL", nil},
		{"/data/a#b%c.db", "file:/data/a%23b%25c.db?_journal_mode=WAL", nil},
		// SQLite URI meanings are not kept: a path names a file.
		{":memory:", "file:" + wd + "/:memory:?_journal_mode=WAL", nil},
		{"//localhost/x", "file:/localhost/x?_journal_mode=WAL", nil},
		{"file:x.db", "file:" + wd + "/file:x.db?_journal_mode=WAL", nil},
		{"pact.db", "file:" + wd + "/pact.db?_journal_mode=WAL", nil},
		{"", "", ErrPath},
	}
	for _, tc := range cases {
		got, err := DSN(tc.path, params)
		if !errors.Is(err, tc.err) || got != tc.want {
			t.Errorf("DSN(%q) = %q, %v; want %q, %v", tc.path, got, err, tc.want, tc.err)
		}
	}
}

// Create must leave the file 0600 under a umask that allows more, whether
// it creates the file or finds it, and take group and other permissions
// off existing -wal and -shm files.
func TestCreateRestrictsPermissions(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	fresh := filepath.Join(dir, "fresh.db")
	loose := filepath.Join(dir, "loose.db")
	for _, p := range []string{loose, loose + "-wal", loose + "-shm"} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, path := range []string{fresh, loose} {
		if err := Create(path); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{fresh, loose, loose + "-wal", loose + "-shm"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != FileMode {
			t.Errorf("%s has mode %v, want %v", p, st.Mode().Perm(), FileMode)
		}
	}
	if _, err := os.Stat(fresh + "-wal"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Create made a -wal file: %v", err)
	}
}
