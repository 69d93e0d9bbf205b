//go:build linux

package hci

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseFlagValues(t *testing.T) {
	type flagCase struct {
		In, Want, Error string
	}
	var file struct {
		Channels []flagCase `json:"channels"`
		Extended []flagCase `json:"extended"`
	}
	cmdTestLoad(t, "flag_values.json", &file)
	check := func(t *testing.T, c flagCase, got fmt.Stringer, err error) {
		t.Helper()
		if c.Error != "" {
			if err == nil || err.Error() != c.Error {
				t.Fatalf("%q: error %v, want %q", c.In, err, c.Error)
			}
			return
		}
		if err != nil || got.String() != c.Want {
			t.Fatalf("%q: got %v, %v; want %s", c.In, got, err, c.Want)
		}
	}
	for _, c := range file.Channels {
		ch, err := ParseChannel(c.In)
		check(t, c, ch, err)
	}
	for _, c := range file.Extended {
		m, err := ParseExtendedMode(c.In)
		check(t, c, m, err)
	}
}

// TestIoctlNumbers pins the numbers to those of the C headers
// (linux/hci_sock.h via _IOW/_IOR) on the asm-generic architectures.
func TestIoctlNumbers(t *testing.T) {
	if ioctlWrite != 1<<30 {
		t.Skip("not an asm-generic ioctl architecture")
	}
	for _, c := range []struct {
		name      string
		got, want uint32
	}{
		{"HCIDEVUP", ioctlHCIDevUp, 0x400448c9},
		{"HCIDEVDOWN", ioctlHCIDevDown, 0x400448ca},
		{"HCIGETDEVINFO", ioctlHCIGetDevInfo, 0x800448d3},
	} {
		if c.got != c.want {
			t.Errorf("%s = 0x%08x, want 0x%08x", c.name, c.got, c.want)
		}
	}
}

// TestOpenSocketErrors checks what a host without the adapter hears; the
// success paths run against a real kernel in internal/vmtest.
func TestOpenSocketErrors(t *testing.T) {
	if _, err := OpenSocket(-1, ChannelAuto); err == nil || !strings.Contains(err.Error(), "adapter index -1 out of range") {
		t.Errorf("negative index: %v", err)
	}
	// hci57 exists on no test machine: either the kernel has no Bluetooth
	// (EAFNOSUPPORT) or no such adapter (ENODEV). Both must name it.
	_, err := OpenSocket(57, ChannelUser)
	if err == nil {
		t.Fatal("opened hci57")
	}
	if !errors.Is(err, unix.EAFNOSUPPORT) && !errors.Is(err, unix.ENODEV) {
		t.Errorf("error %v is neither EAFNOSUPPORT nor ENODEV", err)
	}
	if !strings.Contains(err.Error(), "hci57") {
		t.Errorf("error %q does not name the adapter", err)
	}
}

func FuzzParseFlagValues(f *testing.F) {
	var file struct {
		Channels []struct{ In string } `json:"channels"`
		Extended []struct{ In string } `json:"extended"`
	}
	cmdTestLoad(f, "flag_values.json", &file)
	for _, c := range append(file.Channels, file.Extended...) {
		f.Add(c.In)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Whatever parses must print back to a value that parses the same.
		if ch, err := ParseChannel(s); err == nil {
			if again, err := ParseChannel(ch.String()); err != nil || again != ch {
				t.Fatalf("channel %q -> %v -> %v, %v", s, ch, again, err)
			}
		} else if !strings.Contains(err.Error(), "want auto, user or raw") {
			t.Fatalf("channel %q: unhelpful error %v", s, err)
		}
		if m, err := ParseExtendedMode(s); err == nil {
			if again, err := ParseExtendedMode(m.String()); err != nil || again != m {
				t.Fatalf("extended %q -> %v -> %v, %v", s, m, again, err)
			}
		} else if !strings.Contains(err.Error(), "want auto, off or on") {
			t.Fatalf("extended %q: unhelpful error %v", s, err)
		}
	})
}
