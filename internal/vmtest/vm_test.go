//go:build linux

package vmtest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/pact"
)

// frameCase is one advertisement the VM broadcasts and what must come of it.
type frameCase struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Data    string `json:"data"`
	// PACTChirp, when set, makes the frame with pact.EncodeAdvert instead
	// of Address and Data.
	PACTChirp string `json:"pact_chirp"`
	// OffCurveKey is a full-form key that is no P-224 x-coordinate: it
	// must stay out of the contact log.
	OffCurveKey string `json:"off_curve_key"`
	Want        *struct {
		Source     string `json:"source"`
		Chirp      string `json:"chirp"`
		Battery    string `json:"battery"`
		DeviceType string `json:"device_type"`
		Maintained *bool  `json:"maintained"`
	} `json:"want"`
}

// vmFrame is what vmcheck advertise reads from /frames.json.
type vmFrame struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Data    string `json:"data"`
}

// channels are the HCI channels the guest scans hci1 through, in the
// order scripts/vm/init.sh runs them.
var channels = []string{"user", "raw"}

// serialRun tags the contact log and JSON lines of findmy-harvester
// scanning the H4 pseudo-terminal controller with --serial.
const serialRun = "serial"

// guest is a bootable guest: QEMU, the kernel and the initramfs that
// holds both scenarios of scripts/vm.
type guest struct {
	qemu, kernel, initrd, cache string
}

var (
	guestOnce  sync.Once
	guestImage guest
	guestErr   error
	// runDir is this test binary's directory under .cache/vm, removed
	// when the tests end.
	runDir string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if runDir != "" {
		os.RemoveAll(runDir)
	}
	os.Exit(code)
}

// removeStale removes what matches pattern in dir and was last modified
// more than staleInitramfs ago: left by a run that was killed, or an
// image no run has used for that long.
func removeStale(dir, pattern string) {
	old, _ := filepath.Glob(filepath.Join(dir, pattern))
	for _, o := range old {
		if fi, err := os.Stat(o); err == nil && time.Since(fi.ModTime()) > staleInitramfs {
			os.RemoveAll(o)
		}
	}
}

// prepareGuest skips the test when QEMU is missing (fails on CI), and
// builds the guest once per test binary: both scenarios boot the same
// initramfs and tell it apart by the kernel command line.
func prepareGuest(t *testing.T) guest {
	t.Helper()
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		msg := "qemu-system-x86_64 is not installed: the real-kernel HCI test cannot run. " +
			"Run scripts/vm/prepare.sh (as root) to install it and fetch the guest kernel."
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		fmt.Fprintf(os.Stderr, "\n%s\n!!! SKIPPING %s: %s\n%s\n\n", strings.Repeat("!", 72), t.Name(), msg, strings.Repeat("!", 72))
		t.Skip(msg)
	}
	guestOnce.Do(func() {
		guestErr = errors.New("building the guest failed in an earlier test")
		root, err := filepath.Abs("../..")
		if err != nil {
			t.Fatal(err)
		}
		cache := filepath.Join(root, ".cache", "vm")
		prepareBase(t, root, cache)
		// The binaries and the image this run boots live in a directory
		// of its own: .cache may be shared by several checkouts testing at
		// once, and one of them may replace a binary or remove an image
		// that another has yet to boot. The image is a hard link to the
		// cached one, which stays readable whatever happens to the cache.
		removeStale(cache, "run-*")
		dir, err := os.MkdirTemp(cache, "run-")
		if err != nil {
			t.Fatal(err)
		}
		runDir = dir
		bins := buildGuestBinaries(t, root, filepath.Join(dir, "bin"))
		var initrd string
		for attempt := 0; ; attempt++ {
			// A run elsewhere may remove the image between its build and
			// the link: then it is built again.
			shared := buildInitramfs(t, root, cache, bins, framesFor(t, loadCases(t)))
			initrd = filepath.Join(dir, filepath.Base(shared))
			err := os.Link(shared, initrd)
			if err == nil {
				break
			}
			if attempt == 2 {
				t.Fatal(err)
			}
		}
		guestImage = guest{qemu: qemu, kernel: filepath.Join(cache, "base", "vmlinuz"), initrd: initrd, cache: cache}
		guestErr = nil
	})
	if guestErr != nil {
		t.Fatal(guestErr)
	}
	return guestImage
}

func TestAdvertiseAndHarvestOnRealKernel(t *testing.T) {
	g := prepareGuest(t)
	cases := loadCases(t)
	frames := framesFor(t, cases)

	start := time.Now()
	console := bootGuest(t, g, "", guestTimeout, filepath.Join(g.cache, "console.log"))
	end := time.Now()
	res := parseConsole(console)
	for _, ch := range channels {
		t.Run(ch+"-channel", func(t *testing.T) {
			checkChannel(t, ch, cases, res, pact.MinuteOf(start), pact.MinuteOf(end))
		})
	}
	t.Run("extended-on-user-channel", func(t *testing.T) {
		// Non-legacy extended PDUs reach only an extended scan: these two
		// log lines plus the user-channel contacts prove the extended
		// advertising, scanning and report paths end to end.
		for _, want := range []string{
			"msg=scanning adapter=1 channel=user extended=true",
			"msg=scanning adapter=1 channel=raw extended=false",
			"msg=advertised frames=" + strconv.Itoa(len(frames)),
		} {
			if !strings.Contains(console, want) {
				t.Errorf("console lacks %q", want)
			}
		}
		if !regexp.MustCompile(`msg=advertised frames=\d+ turns=\d+ extended=true`).MatchString(console) {
			t.Error("no extended advertising run in the console")
		}
	})
	t.Run("adapter-restored", func(t *testing.T) {
		for _, ch := range channels {
			for _, when := range []string{"before", "after"} {
				want := fmt.Sprintf("VMTEST-ADAPTER %s-%s hci1 up=true\n", when, ch)
				if !strings.Contains(console, want) {
					t.Errorf("console lacks %q: hci1 was not up %s the %s-channel scan", strings.TrimSpace(want), when, ch)
				}
			}
		}
	})
	t.Run("serial-h4", func(t *testing.T) { checkSerial(t, frames, console) })
	t.Run("serial-harvester", func(t *testing.T) {
		// The run must be the harvester's own --serial path, not an
		// adapter: its start line names the tty and the line settings.
		if !regexp.MustCompile(`msg=scanning serial=/dev/pts/\d+ baud=115200 flow_control=false `).MatchString(console) {
			t.Error("console lacks the harvester's start line for --serial /dev/pts/N")
		}
		checkChannel(t, serialRun, cases, res, pact.MinuteOf(start), pact.MinuteOf(end))
	})
	t.Run("refused-without-capabilities", func(t *testing.T) {
		i := strings.Index(console, "VMTEST-NOCAPS ")
		if i < 0 {
			t.Fatal("no VMTEST-NOCAPS line: the unprivileged run did not happen")
		}
		line, _, _ := strings.Cut(console[i:], "\n")
		if !strings.Contains(line, "operation not permitted") {
			t.Errorf("harvester without capabilities failed for another reason: %s", line)
		}
	})
}

// checkSerial compares the distinct reports the H4 serial source heard
// with the frames advertised: every one, byte for byte, and nothing else.
func checkSerial(t *testing.T, frames []vmFrame, console string) {
	want := map[string]bool{}
	for _, f := range frames {
		want[strings.ToUpper(f.Address+" "+f.Data)] = true
	}
	got := map[string]bool{}
	for _, line := range strings.Split(console, "\n") {
		f := strings.Fields(line)
		if len(f) != 4 || f[0] != "SERIAL-REPORT" {
			continue
		}
		key := f[1] + " " + f[2]
		got[key] = true
		if !want[key] {
			t.Errorf("serial source reported address %s data %s, which was not advertised", f[1], f[2])
		}
		if f[3] != strconv.Itoa(int(btvirtRSSI)) {
			t.Errorf("serial report %s: RSSI %s, btvirt reports %d", key, f[3], btvirtRSSI)
		}
	}
	for key := range want {
		if !got[key] {
			t.Errorf("serial source never reported %s", key)
		}
	}
}

func loadCases(t *testing.T) []frameCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "frames.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []frameCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatalf("testdata/frames.json: %v", err)
	}
	return cases
}

// framesFor turns the cases into the frames the guest broadcasts, and
// checks the test data against the findmy package's curve check so a typo
// there cannot pass for a harvester bug.
func framesFor(t *testing.T, cases []frameCase) []vmFrame {
	t.Helper()
	var frames []vmFrame
	for _, c := range cases {
		f := vmFrame{Name: c.Name, Address: c.Address, Data: c.Data}
		if c.PACTChirp != "" {
			chirp, err := pact.ParseChirp(c.PACTChirp)
			if err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			addr, ad := pact.EncodeAdvert(chirp)
			f.Address, f.Data = hex.EncodeToString(addr[:]), hex.EncodeToString(ad)
		}
		for _, k := range []string{c.OffCurveKey, wantChirp(c, "findmy")} {
			if k == "" {
				continue
			}
			key, err := findmy.ParseKey(k)
			if err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			if onCurve := findmy.OnCurve(&key); onCurve != (k != c.OffCurveKey) {
				t.Fatalf("%s: test data says key %s on P-224 is %v, findmy says %v", c.Name, k, !onCurve, onCurve)
			}
		}
		frames = append(frames, f)
	}
	return frames
}

func wantChirp(c frameCase, source string) string {
	if c.Want == nil || c.Want.Source != source {
		return ""
	}
	return c.Want.Chirp
}

// prepareBase fetches the guest kernel and modules and builds btvirt when
// the cache lacks them (CI prepares them before the tests, with package
// installs).
func prepareBase(t *testing.T, root, cache string) {
	t.Helper()
	_, baseErr := os.Stat(filepath.Join(cache, "base", ".key"))
	_, btvirtErr := os.Stat(btvirtPath(t, root, cache))
	if baseErr == nil && btvirtErr == nil {
		return
	}
	cmd := exec.CommandContext(t.Context(), filepath.Join(root, "scripts", "vm", "prepare.sh"), "--no-install")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/vm/prepare.sh --no-install: %v\n%s", err, out)
	}
}

// btvirtPath is where scripts/vm/prepare.sh puts the btvirt it builds from
// BlueZ 5.66 with scripts/vm/btdev-ext-adv.patch: a directory named by the
// patch's hash, so that a changed patch never reuses an older build.
func btvirtPath(t *testing.T, root, cache string) string {
	t.Helper()
	patch, err := os.ReadFile(filepath.Join(root, "scripts", "vm", "btdev-ext-adv.patch"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(patch)
	return filepath.Join(cache, "btvirt-5.66-"+hex.EncodeToString(sum[:])[:12], "btvirt")
}

// buildGuestBinaries builds the programs the guest runs, statically linked:
// the guest has no libc for them. go-sqlite3 needs cgo, hence the external
// static link. The Go build cache makes repeat builds quick.
func buildGuestBinaries(t *testing.T, root, dir string) map[string]string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		// go test may run with a PATH that lacks the toolchain it came from.
		goTool = filepath.Join(build.Default.GOROOT, "bin", "go")
	}
	cmd := exec.CommandContext(t.Context(), goTool, "build", "-o", dir+string(filepath.Separator),
		"-tags", "netgo,osusergo,sqlite_omit_load_extension",
		"-ldflags", "-linkmode external -extldflags -static",
		"./internal/vmtest/vmcheck", "./cmd/findmy-harvester", "./cmd/pact-server", "./cmd/pact-bridge")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the guest binaries: %v\n%s", err, out)
	}
	bins := map[string]string{}
	for _, name := range []string{"vmcheck", "findmy-harvester", "pact-server", "pact-bridge"} {
		bins[name] = filepath.Join(dir, name)
	}
	return bins
}

// staleInitramfs is the age past which an initramfs or a run directory
// in the cache is removed: longer than any run of these tests.
const staleInitramfs = time.Hour

// buildInitramfs assembles the guest's root file system, reusing the last
// one when nothing that goes into it changed.
func buildInitramfs(t *testing.T, root, cache string, bins map[string]string, frames []vmFrame) string {
	t.Helper()
	base := filepath.Join(cache, "base")
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	framesJSON, err := json.MarshalIndent(frames, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	type file struct {
		name string
		perm uint32
		data []byte
	}
	files := []file{
		{"init", 0o755, read(filepath.Join(root, "scripts", "vm", "init.sh"))},
		{"nodes.sh", 0o644, read(filepath.Join(root, "scripts", "vm", "nodes.sh"))},
		{"frames.json", 0o644, framesJSON},
		{"bin/busybox", 0o755, read(filepath.Join(base, "bin", "busybox"))},
		// Statically linked, like every other program here: the guest
		// has no libc.
		{"bin/btvirt", 0o755, read(btvirtPath(t, root, cache))},
		{"modules/order", 0o644, read(filepath.Join(base, "modules", "order"))},
	}
	for _, m := range strings.Fields(string(read(filepath.Join(base, "modules", "order")))) {
		files = append(files, file{"modules/" + m, 0o644, read(filepath.Join(base, "modules", m))})
	}
	names := make([]string, 0, len(bins))
	for name := range bins {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		files = append(files, file{"bin/" + name, 0o755, read(bins[name])})
	}

	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s %o %d\n", f.name, f.perm, len(f.data))
		h.Write(f.data)
	}
	key := hex.EncodeToString(h.Sum(nil))[:16]
	path := filepath.Join(cache, "initramfs-"+key+".cpio.gz")
	if _, err := os.Stat(path); err == nil {
		// Touched, so that no run takes it for stale.
		now := time.Now()
		_ = os.Chtimes(path, now, now)
		return path
	}

	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	w := NewCPIOWriter(gz)
	for _, d := range []string{"bin", "dev", "proc", "sys", "tmp", "modules"} {
		w.Dir(d)
	}
	// The kernel opens /dev/console for init before devtmpfs is mounted.
	w.CharDevice("dev/console", 5, 1)
	w.Symlink("bin/sh", "busybox")
	for _, f := range files {
		w.File(f.name, f.perm, f.data)
	}
	if err := errors.Join(w.Close(), gz.Close()); err != nil {
		t.Fatal(err)
	}
	removeStale(cache, "initramfs-*.cpio.gz")
	if err := os.WriteFile(path+".tmp", buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	return path
}

// guestTimeout bounds one boot of the HCI scenario. Under TCG on a loaded
// two-core machine the whole run takes 20-60 s; past this something hangs.
const guestTimeout = 4 * time.Minute

// exitDebugFailure is QEMU's exit status when the guest writes 1 to
// isa-debug-exit: (1 << 1) | 1.
const exitDebugFailure = 3

// bootGuest boots g with scenario appended to the kernel command line
// ("" for the HCI scenario of init.sh) and returns the console once the
// guest printed VMTEST-DONE and powered off within timeout.
func bootGuest(t *testing.T, g guest, scenario string, timeout time.Duration, logPath string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmdline := "console=ttyS0 quiet panic=-1"
	if scenario != "" {
		cmdline += " " + scenario
	}
	// KVM is present on the test machines but does not run this guest;
	// TCG with every CPU feature does.
	cmd := exec.CommandContext(ctx, g.qemu,
		"-accel", "tcg", "-cpu", "max", "-m", "512", "-smp", "1",
		"-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-net", "none",
		"-kernel", g.kernel, "-initrd", g.initrd,
		"-append", cmdline,
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
		"-serial", "stdio", "-monitor", "none", "-display", "none")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	began := time.Now()
	runErr := cmd.Run()
	console := strings.ReplaceAll(out.String(), "\r\n", "\n")
	_ = os.WriteFile(logPath, []byte(console), 0o644)
	t.Logf("guest ran %v; console saved to %s", time.Since(began).Round(100*time.Millisecond), logPath)
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("guest did not finish within %v; console:\n%s", timeout, console)
	case errors.As(runErr, &exitErr) && exitErr.ExitCode() == exitDebugFailure:
		t.Fatalf("guest reported a failure; console:\n%s", console)
	case runErr != nil:
		t.Fatalf("qemu: %v; console:\n%s", runErr, console)
	}
	// A kernel panic also ends QEMU with status 0: only the marker counts.
	if !strings.Contains(console, "\nVMTEST-DONE\n") {
		t.Fatalf("guest ended without VMTEST-DONE; console:\n%s", console)
	}
	return console
}

// contactRow is one contact-log row as vmcheck dump prints it.
type contactRow struct {
	source, chirp string
	minute        pact.Minute
	rssi          int8
}

// jsonSighting is the part of a harvester --format jsonl line we check.
type jsonSighting struct {
	Minute     pact.Minute `json:"minute"`
	Source     string      `json:"source"`
	Chirp      string      `json:"chirp"`
	RSSI       int8        `json:"rssi"`
	Address    string      `json:"address"`
	Battery    string      `json:"battery"`
	DeviceType string      `json:"device_type"`
	Maintained *bool       `json:"maintained"`
}

type channelResult struct {
	contacts    []contactRow
	counted     int // the CONTACTS total line
	sawCount    bool
	jsonl       []jsonSighting
	parseErrors []string
}

func parseConsole(console string) map[string]*channelResult {
	res := map[string]*channelResult{}
	get := func(ch string) *channelResult {
		if res[ch] == nil {
			res[ch] = &channelResult{}
		}
		return res[ch]
	}
	sc := bufio.NewScanner(strings.NewReader(console))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		switch {
		case len(f) == 6 && f[0] == "CONTACT":
			r := get(f[1])
			minute, err1 := strconv.ParseUint(f[4], 10, 32)
			rssi, err2 := strconv.ParseInt(f[5], 10, 8)
			if err := errors.Join(err1, err2); err != nil {
				r.parseErrors = append(r.parseErrors, fmt.Sprintf("%q: %v", line, err))
				continue
			}
			r.contacts = append(r.contacts, contactRow{f[2], f[3], pact.Minute(minute), int8(rssi)})
		case len(f) == 3 && f[0] == "CONTACTS":
			r := get(f[1])
			n, err := strconv.Atoi(f[2])
			if err != nil {
				r.parseErrors = append(r.parseErrors, fmt.Sprintf("%q: %v", line, err))
			}
			r.counted, r.sawCount = n, true
		case len(f) >= 3 && f[0] == "VMTEST-JSONL":
			r := get(f[1])
			var s jsonSighting
			payload := strings.TrimSpace(strings.SplitN(line, " ", 3)[2])
			if err := json.Unmarshal([]byte(payload), &s); err != nil {
				r.parseErrors = append(r.parseErrors, fmt.Sprintf("%q: %v", line, err))
				continue
			}
			r.jsonl = append(r.jsonl, s)
		}
	}
	return res
}

// btvirtRSSI is what btvirt reports: 127, "not available".
const btvirtRSSI = pact.RSSIUnknown

// checkChannel checks the contact log and JSON lines of the harvester run
// tagged ch: an HCI channel, or serialRun.
func checkChannel(t *testing.T, ch string, cases []frameCase, res map[string]*channelResult, from, to pact.Minute) {
	r := res[ch]
	if r == nil || !r.sawCount {
		t.Fatalf("no contact log dump for the %s run in the console", ch)
	}
	for _, e := range r.parseErrors {
		t.Errorf("unreadable console line: %s", e)
	}
	if r.counted != len(r.contacts) {
		t.Errorf("dump says %d contacts, console shows %d", r.counted, len(r.contacts))
	}
	// The exact set of chirps in the contact log, one row per (chirp,
	// minute): several minutes can pass while the guest runs.
	want := map[string]bool{}
	for _, c := range cases {
		if c.Want != nil && (c.Want.Source == string(pact.SourceFindMy) || c.Want.Source == string(pact.SourcePACT)) {
			want[c.Want.Source+" "+c.Want.Chirp] = true
		}
	}
	got := map[string]bool{}
	for _, row := range r.contacts {
		key := row.source + " " + row.chirp
		got[key] = true
		if !want[key] {
			t.Errorf("contact log holds %s %s, which no frame should have put there", row.source, row.chirp)
		}
		if row.minute < from || row.minute > to {
			t.Errorf("contact %s at minute %d, outside the run's minutes %d..%d", key, row.minute, from, to)
		}
		if row.rssi != btvirtRSSI {
			t.Errorf("contact %s has RSSI %d, btvirt reports %d", key, row.rssi, btvirtRSSI)
		}
	}
	for key := range want {
		if !got[key] {
			t.Errorf("contact log lacks %s", key)
		}
	}
	for _, c := range cases {
		if c.OffCurveKey != "" {
			for _, row := range r.contacts {
				if row.chirp == c.OffCurveKey {
					t.Errorf("%s: off-curve key %s reached the contact log", c.Name, c.OffCurveKey)
				}
			}
		}
		if c.Want == nil {
			continue
		}
		// The harvester's JSON lines carry what the contact log does not:
		// partial keys and the decoded status byte.
		i := slices.IndexFunc(r.jsonl, func(s jsonSighting) bool { return s.Source == c.Want.Source && s.Chirp == c.Want.Chirp })
		if i < 0 {
			t.Errorf("%s: no JSON line with source %s chirp %s", c.Name, c.Want.Source, c.Want.Chirp)
			continue
		}
		s := r.jsonl[i]
		if c.Want.Battery != "" && s.Battery != c.Want.Battery {
			t.Errorf("%s: battery %q, want %q", c.Name, s.Battery, c.Want.Battery)
		}
		if c.Want.DeviceType != "" && s.DeviceType != c.Want.DeviceType {
			t.Errorf("%s: device_type %q, want %q", c.Name, s.DeviceType, c.Want.DeviceType)
		}
		if c.Want.Maintained != nil && (s.Maintained == nil || *s.Maintained != *c.Want.Maintained) {
			t.Errorf("%s: maintained %v, want %v", c.Name, s.Maintained, *c.Want.Maintained)
		}
		if s.RSSI != btvirtRSSI {
			t.Errorf("%s: JSON rssi %d, want %d", c.Name, s.RSSI, btvirtRSSI)
		}
	}
	t.Logf("%s run: %d contact-log rows, %d JSON sightings", ch, len(r.contacts), len(r.jsonl))
}
