package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Build is what a binary knows about how it was built.
type Build struct {
	Version   string // module version: a tag, a pseudo-version, or "(devel)"
	Commit    string // VCS revision; "" when built outside a checkout
	Time      string // commit time, RFC 3339; "" when unknown
	Modified  bool   // the checkout had uncommitted changes
	GoVersion string // the toolchain, e.g. "go1.26.8"
	Platform  string // GOOS/GOARCH
}

// ReadBuild reads the build information the go command embeds in every
// binary (runtime/debug.ReadBuildInfo): the main module's version and the
// vcs.revision, vcs.time and vcs.modified settings of a build inside a
// checkout (go build -buildvcs, the default).
func ReadBuild() Build {
	b := Build{Version: "(unknown)", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if info.Main.Version != "" {
		b.Version = info.Main.Version
	}
	if info.GoVersion != "" {
		b.GoVersion = info.GoVersion
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// String formats b as the --version line of program name:
//
//	pact-server v0.1.0 commit 4fd0ce2… (2026-11-30T18:02:11Z, modified) go1.26.8 linux/amd64
func (b Build) String(name string) string {
	var s strings.Builder
	fmt.Fprintf(&s, "%s %s", name, b.Version)
	if b.Commit != "" {
		fmt.Fprintf(&s, " commit %s", b.Commit)
		var notes []string
		if b.Time != "" {
			notes = append(notes, b.Time)
		}
		if b.Modified {
			notes = append(notes, "modified")
		}
		if len(notes) > 0 {
			fmt.Fprintf(&s, " (%s)", strings.Join(notes, ", "))
		}
	} else {
		s.WriteString(" commit unknown")
	}
	fmt.Fprintf(&s, " %s %s", b.GoVersion, b.Platform)
	return s.String()
}
