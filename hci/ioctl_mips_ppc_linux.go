//go:build linux && (mips || mipsle || mips64 || mips64le || ppc64 || ppc64le)

package hci

// MIPS and PowerPC put three direction bits at bit 29, with write and read
// the other way round from asm-generic (arch/*/include/uapi/asm/ioctl.h).
const (
	ioctlWrite = 4 << 29
	ioctlRead  = 2 << 29
)
