package vmtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCPIOWriterAgainstGNUcpio lists and unpacks an archive with GNU cpio,
// an independent reader of the format the kernel unpacks.
func TestCPIOWriterAgainstGNUcpio(t *testing.T) {
	cpio, err := exec.LookPath("cpio")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("cpio is not installed (apt-get install cpio)")
		}
		t.Skip("cpio is not installed: cannot cross-check the archive writer")
	}
	var file struct {
		Entries []struct {
			Kind, Name, Perm, Data, Target string
			Major, Minor                   uint32
		} `json:"entries"`
		Listing []string `json:"listing"`
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "cpio_entries.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := NewCPIOWriter(&buf)
	for _, e := range file.Entries {
		switch e.Kind {
		case "dir":
			w.Dir(e.Name)
		case "file":
			perm, err := strconv.ParseUint(e.Perm, 8, 32)
			if err != nil {
				t.Fatal(err)
			}
			w.File(e.Name, uint32(perm), []byte(e.Data))
		case "symlink":
			w.Symlink(e.Name, e.Target)
		case "chardev":
			w.CharDevice(e.Name, e.Major, e.Minor)
		default:
			t.Fatalf("unknown kind %q", e.Kind)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%4 != 0 {
		t.Errorf("archive is %d bytes, not 4-byte aligned", buf.Len())
	}

	list := exec.Command(cpio, "-itv", "--quiet")
	list.Stdin = bytes.NewReader(buf.Bytes())
	out, err := list.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -itv: %v\n%s", err, out)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		// Drop the date columns, which say 1970 in the local zone.
		f := strings.Fields(line)
		if len(f) < 9 {
			t.Fatalf("unexpected listing line %q", line)
		}
		size := f[4]
		rest := f[8:]
		if strings.HasSuffix(f[4], ",") { // device: "5, 1"
			size, rest = f[4]+" "+f[5], f[9:]
		}
		got = append(got, strings.Join(append([]string{f[0], f[1], f[2], f[3], size}, rest...), " "))
	}
	if strings.Join(got, "\n") != strings.Join(file.Listing, "\n") {
		t.Errorf("cpio lists:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(file.Listing, "\n"))
	}

	dir := t.TempDir()
	unpack := exec.Command(cpio, "-id", "--quiet", "--no-absolute-filenames", "--nonmatching", "console")
	unpack.Dir = dir
	unpack.Stdin = bytes.NewReader(buf.Bytes())
	if out, err := unpack.CombinedOutput(); err != nil {
		t.Fatalf("cpio -id: %v\n%s", err, out)
	}
	for _, e := range file.Entries {
		if e.Kind != "file" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name))
		if err != nil || string(b) != e.Data {
			t.Errorf("%s unpacked as %q (%v), want %q", e.Name, b, err, e.Data)
		}
	}
}

func TestCPIOWriterRejectsAbsoluteNames(t *testing.T) {
	w := NewCPIOWriter(&bytes.Buffer{})
	w.File("/etc/passwd", 0o644, nil)
	err := w.Close()
	var ne *EntryNameError
	if !errors.Is(err, ErrEntryName) || !errors.As(err, &ne) || ne.Name != "/etc/passwd" {
		t.Fatalf("got %v, want ErrEntryName naming /etc/passwd", err)
	}
}
