package sqlitefile

import (
	"net/url"
	"testing"
)

func TestDSN(t *testing.T) {
	params := url.Values{"_journal_mode": {"WAL"}}
	cases := []struct{ path, want string }{
		{"/var/lib/pact/device.db", "file:/var/lib/pact/device.db?_journal_mode=WAL"},
		{"dev?ice.db", "file:dev%3fice.db?_journal_mode=WAL"},
		{"a#b%c.db", "file:a%23b%25c.db?_journal_mode=WAL"},
	}
	for _, tc := range cases {
		if got := DSN(tc.path, params); got != tc.want {
			t.Errorf("DSN(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}
