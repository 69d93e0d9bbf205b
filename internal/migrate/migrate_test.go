package migrate

import (
	"os"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	cases := []struct {
		dir      string
		versions []int
		wantErr  string
	}{
		{"testdata/good", []int{1, 2, 10}, ""},
		{"testdata/dup", nil, "share version 1"},
		{"testdata/badname", nil, "must start with a positive version number"},
		{"testdata/none", []int{}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.dir, func(t *testing.T) {
			ms, err := Load(os.DirFS("."), tc.dir)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != len(tc.versions) {
				t.Fatalf("loaded %d migrations, want %d", len(ms), len(tc.versions))
			}
			for i, v := range tc.versions {
				if ms[i].Version != v || ms[i].SQL == "" {
					t.Errorf("migration %d = %+v, want version %d with SQL", i, ms[i], v)
				}
			}
		})
	}
}

func TestPending(t *testing.T) {
	ms, err := Load(os.DirFS("."), "testdata/good")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		current int
		want    []int
		wantErr bool
	}{
		{0, []int{1, 2, 10}, false},
		{1, []int{2, 10}, false},
		{5, []int{10}, false},
		{10, nil, false},
		{11, nil, true},
	}
	for _, tc := range cases {
		got, err := Pending(ms, tc.current)
		if (err != nil) != tc.wantErr {
			t.Fatalf("Pending(%d) error = %v", tc.current, err)
		}
		if len(got) != len(tc.want) {
			t.Fatalf("Pending(%d) = %d migrations, want %v", tc.current, len(got), tc.want)
		}
		for i, v := range tc.want {
			if got[i].Version != v {
				t.Errorf("Pending(%d)[%d] = %d, want %d", tc.current, i, got[i].Version, v)
			}
		}
	}
}
