//go:build linux && !mips && !mipsle && !mips64 && !mips64le && !ppc64 && !ppc64le

package hci

// Direction bits of asm-generic/ioctl.h, used by x86, arm, arm64, riscv64,
// s390x and loong64.
const (
	ioctlWrite = 1 << 30
	ioctlRead  = 2 << 30
)
