// Package migrate loads the numbered SQL migrations that each database of
// the project embeds. Applying them stays with each store, since SQLite and
// PostgreSQL record the schema version and take locks differently; what
// they share is how migrations are named, ordered and chosen.
package migrate

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one schema change, read from a file named
// NNNN_description.sql.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Load reads every *.sql file in dir of fsys, in version order. Each name
// must start with a positive version number followed by '_', and no two
// files may share a version.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, fmt.Errorf("migrations in %s: %w", dir, err)
	}
	ms := make([]Migration, 0, len(names))
	seen := map[int]string{}
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive version number and '_'", name)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, base, v)
		}
		seen[v] = base
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", name, err)
		}
		ms = append(ms, Migration{Version: v, Name: base, SQL: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// Pending returns the migrations newer than current, the version a
// database is at. A database newer than every migration was written by a
// later program, and going on could corrupt it.
func Pending(ms []Migration, current int) ([]Migration, error) {
	if n := len(ms); n > 0 && current > ms[n-1].Version {
		return nil, fmt.Errorf("schema version %d is newer than this program's %d", current, ms[n-1].Version)
	}
	i := sort.Search(len(ms), func(i int) bool { return ms[i].Version > current })
	return ms[i:], nil
}
