// Package sqlitefile builds the connection strings of the project's SQLite
// databases, so that every store opens its file the same way.
package sqlitefile

import (
	"net/url"
	"strings"
)

// uriPath escapes the characters that end or escape the path of an SQLite
// URI filename, so that a path holding them names the file it says.
var uriPath = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")

// DSN returns the mattn/go-sqlite3 connection string for the file at path
// with the given parameters (_journal_mode, _synchronous, ...).
func DSN(path string, params url.Values) string {
	return "file:" + uriPath.Replace(path) + "?" + params.Encode()
}
