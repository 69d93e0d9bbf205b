//go:build linux

package hci

import (
	"errors"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseFlagValues(t *testing.T) {
	type flagCase struct {
		In, Want string
		Invalid  bool
	}
	var file struct {
		Channels []flagCase `json:"channels"`
		Extended []flagCase `json:"extended"`
	}
	cmdTestLoad(t, "flag_values.json", &file)
	check := func(t *testing.T, setting string, c flagCase, got fmt.Stringer, err error) {
		t.Helper()
		if c.Invalid {
			checkSettingError(t, err, setting, c.In)
			return
		}
		if err != nil || got.String() != c.Want {
			t.Fatalf("%q: got %v, %v; want %s", c.In, got, err, c.Want)
		}
	}
	for _, c := range file.Channels {
		ch, err := ParseChannel(c.In)
		check(t, "hci channel", c, ch, err)
	}
	for _, c := range file.Extended {
		m, err := ParseExtendedMode(c.In)
		check(t, "extended scanning", c, m, err)
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
	_, err := openSocket(-1, ChannelAuto)
	checkSettingError(t, err, "adapter index", "-1")
	// hci57 exists on no test machine: either the kernel has no Bluetooth
	// (EAFNOSUPPORT) or no such adapter (ENODEV).
	_, err = openSocket(57, ChannelUser)
	if err == nil {
		t.Fatal("opened hci57")
	}
	if !errors.Is(err, unix.EAFNOSUPPORT) && !errors.Is(err, unix.ENODEV) {
		t.Errorf("error %v is neither EAFNOSUPPORT nor ENODEV", err)
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
		} else if se := (*SettingError)(nil); !errors.As(err, &se) || se.Value != s {
			t.Fatalf("channel %q: error %v does not name the value", s, err)
		}
		if m, err := ParseExtendedMode(s); err == nil {
			if again, err := ParseExtendedMode(m.String()); err != nil || again != m {
				t.Fatalf("extended %q -> %v -> %v, %v", s, m, again, err)
			}
		} else if se := (*SettingError)(nil); !errors.As(err, &se) || se.Value != s {
			t.Fatalf("extended %q: error %v does not name the value", s, err)
		}
	})
}
