// Package sqlitefile builds the connection strings of the project's SQLite
// databases and creates their files, so that every store opens its file
// the same way: a path names a file on disk, readable by its owner only.
package sqlitefile

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// ErrPath is wrapped by the error of DSN for a path that names no file.
var ErrPath = errors.New("database path names no file")

// FileMode is the permission of every database file and of the -wal and
// -shm files beside it: they hold uploads, seeds and contacts.
const FileMode fs.FileMode = 0o600

// uriPath escapes the characters that end or escape the path of an SQLite
// URI filename, so that a path holding them names the file it says.
var uriPath = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")

// DSN returns the mattn/go-sqlite3 connection string for the file at path
// with the given parameters (_journal_mode, _synchronous, ...).
//
// path is a file path, never an SQLite URI: it is made absolute first, so
// ":memory:" names a file of that name in the working directory rather
// than a throwaway in-memory database, and "//localhost/x" names /localhost/x
// rather than /x (an absolute path keeps "file:" from reading an
// authority).
func DSN(path string, params url.Values) (string, error) {
	if path == "" {
		return "", fmt.Errorf("%w: empty path", ErrPath)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %w", ErrPath, path, err)
	}
	return "file:" + uriPath.Replace(abs) + "?" + params.Encode(), nil
}

// Create makes sure the database file at path exists with FileMode, and
// takes any broader permission off it and off its -wal and -shm files.
// SQLite gives the -wal and -shm files it creates the permissions of the
// database file, so creating that file first with FileMode is what keeps
// all three private whatever the umask or the directory.
func Create(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, FileMode)
	if err != nil {
		return fmt.Errorf("creating database file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("creating database file %s: %w", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("checking database file %s: %w", p, err)
		}
		if st.Mode().Perm()&^FileMode != 0 {
			if err := os.Chmod(p, FileMode); err != nil {
				return fmt.Errorf("restricting database file %s to %v: %w", p, FileMode, err)
			}
		}
	}
	return nil
}
