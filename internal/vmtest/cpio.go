// Package vmtest checks the hci package and findmy-harvester against a real
// Linux kernel: two btvirt virtual controllers in a QEMU guest, one
// advertising through hci.OpenAdvertiser, the other scanned by the harvester
// through hci.OpenLive into a contact log (see vm_test.go and
// scripts/vm/).
package vmtest

import (
	"errors"
	"fmt"
	"io"
)

// ErrEntryName is wrapped by the error for an archive entry whose name is
// empty or absolute: the kernel unpacks an initramfs relative to its root.
var ErrEntryName = errors.New("cpio: entry name must be relative and non-empty")

// EntryNameError names the entry ErrEntryName refuses.
type EntryNameError struct{ Name string }

func (e *EntryNameError) Error() string {
	return fmt.Sprintf("cpio: entry name %q must be relative and non-empty", e.Name)
}

// Unwrap lets errors.Is match ErrEntryName.
func (e *EntryNameError) Unwrap() error { return ErrEntryName }

// CPIOWriter writes a "newc" cpio archive, the format the kernel unpacks
// as an initramfs (Documentation/driver-api/early-userspace/
// buffer-format.rst). Only what an initramfs needs: directories, regular
// files, symlinks and device nodes, all owned by root.
type CPIOWriter struct {
	w   io.Writer
	ino uint32
	err error
}

// NewCPIOWriter writes the archive to w.
func NewCPIOWriter(w io.Writer) *CPIOWriter { return &CPIOWriter{w: w, ino: 1} }

// File modes of the newc header (sys/stat.h).
const (
	cpioModeDir     = 0o040000
	cpioModeFile    = 0o100000
	cpioModeSymlink = 0o120000
	cpioModeChar    = 0o020000
	cpioHeaderLen   = 110
	cpioMagic       = "070701"
	cpioTrailer     = "TRAILER!!!"
)

func (c *CPIOWriter) entry(name string, mode uint32, data []byte, rdevMajor, rdevMinor uint32) {
	if c.err != nil {
		return
	}
	if len(name) == 0 || name[0] == '/' {
		c.err = &EntryNameError{Name: name}
		return
	}
	nlink := uint32(1)
	if mode&0o170000 == cpioModeDir {
		nlink = 2
	}
	hdr := fmt.Sprintf("%s%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		cpioMagic, c.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	c.ino++
	c.write([]byte(hdr))
	c.write([]byte(name))
	// The name is NUL-terminated and, with the header, padded to 4 bytes;
	// the data is padded to 4 bytes too.
	c.write(make([]byte, 1+pad4(cpioHeaderLen+len(name)+1)))
	c.write(data)
	c.write(make([]byte, pad4(len(data))))
}

func pad4(n int) int { return (4 - n%4) % 4 }

func (c *CPIOWriter) write(b []byte) {
	if c.err == nil && len(b) > 0 {
		_, c.err = c.w.Write(b)
	}
}

// Dir adds a directory.
func (c *CPIOWriter) Dir(name string) { c.entry(name, cpioModeDir|0o755, nil, 0, 0) }

// File adds a regular file with the given permission bits.
func (c *CPIOWriter) File(name string, perm uint32, data []byte) {
	c.entry(name, cpioModeFile|perm&0o7777, data, 0, 0)
}

// Symlink adds a symbolic link to target.
func (c *CPIOWriter) Symlink(name, target string) {
	c.entry(name, cpioModeSymlink|0o777, []byte(target), 0, 0)
}

// CharDevice adds a character device node.
func (c *CPIOWriter) CharDevice(name string, major, minor uint32) {
	c.entry(name, cpioModeChar|0o600, nil, major, minor)
}

// Close writes the trailer and returns the first error met.
func (c *CPIOWriter) Close() error {
	c.entry(cpioTrailer, 0, nil, 0, 0)
	return c.err
}
