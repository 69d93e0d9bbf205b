//go:build linux

package hci

import (
	"errors"
	"fmt"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Linux HCI socket ioctls and options (include/net/bluetooth/hci_sock.h).
// x/sys/unix has the address family and channels but not these.
// The ioctl numbers depend on the architecture's direction bits (see
// ioctl_*_linux.go).
const (
	ioctlHCIDevUp      = ioctlWrite | 4<<16 | 'H'<<8 | 201 // _IOW('H', 201, int)
	ioctlHCIDevDown    = ioctlWrite | 4<<16 | 'H'<<8 | 202 // _IOW('H', 202, int)
	ioctlHCIGetDevInfo = ioctlRead | 4<<16 | 'H'<<8 | 211  // _IOR('H', 211, int)

	solHCI       = 0 // SOL_HCI
	optHCIFilter = 2 // HCI_FILTER

	// hciDevFlagUp is bit HCI_UP of hci_dev_info.flags.
	hciDevFlagUp = 1 << 0
	// hciDevInfoSize is sizeof(struct hci_dev_info) on every Linux ABI
	// with 4-byte-aligned uint32 (all that run Go).
	hciDevInfoSize = 92
)

// Channel selects how a Linux HCI socket reaches the controller.
type Channel int

const (
	// ChannelAuto tries the user channel and falls back to the raw one.
	ChannelAuto Channel = iota
	// ChannelUser is HCI_CHANNEL_USER: exclusive access, the kernel's
	// Bluetooth stack (and bluetoothd) lose the adapter while it is open.
	ChannelUser
	// ChannelRaw is HCI_CHANNEL_RAW: the kernel keeps the adapter and we
	// see a copy of its traffic, filtered to events.
	ChannelRaw
)

func (c Channel) String() string {
	switch c {
	case ChannelAuto:
		return "auto"
	case ChannelUser:
		return "user"
	case ChannelRaw:
		return "raw"
	}
	return fmt.Sprintf("channel(%d)", int(c))
}

// ParseChannel is the inverse of Channel.String, for flags.
func ParseChannel(s string) (Channel, error) {
	switch s {
	case "auto", "":
		return ChannelAuto, nil
	case "user":
		return ChannelUser, nil
	case "raw":
		return ChannelRaw, nil
	}
	return 0, invalidSetting("hci channel", s, "hci channel %q: want auto, user or raw", s)
}

// hciSocket is a bound AF_BLUETOOTH/BTPROTO_HCI socket. Packets read and
// written carry the H4 packet indicator as their first byte, as the kernel
// frames them on both channels.
//
// github.com/go-ble/ble's linux/hci/socket opens only the user channel,
// gives up on EBUSY, has no raw-channel filter and blocks in read with no
// way out but a dummy command; this one waits in poll(2) on the socket and
// an eventfd, so Close stops a reader at once and sends nothing.
type hciSocket struct {
	fd      int
	wake    int // eventfd written by Close to end a blocked ReadPacket
	adapter int
	channel Channel
	// wasUp is the adapter state before we opened it, restored by Close.
	wasUp bool
	// raisedUp is set when the raw channel had to bring the adapter up.
	raisedUp bool

	// readMu is held by ReadPacket so Close can wait for a blocked reader
	// to leave before the descriptors are closed and their numbers reused.
	readMu    sync.Mutex
	closeOnce sync.Once
	closed    chan struct{}
	closeErr  error
}

// userChannelRetries bounds the HCIDEVDOWN/bind loop: the kernel answers
// EBUSY while its own power-off work for the adapter is still running.
const (
	userChannelRetries = 20
	userChannelBackoff = 50 * time.Millisecond
)

// openSocket opens adapter hciN on the given channel. ChannelAuto prefers
// the user channel and falls back to the raw one when the adapter cannot be
// taken (another user-channel owner, or a kernel that refuses).
func openSocket(adapter int, channel Channel) (*hciSocket, error) {
	if adapter < 0 || adapter > 0xFFFE {
		return nil, invalidSetting("adapter index", adapter, "hci: adapter index %d out of range 0-65534", adapter)
	}
	info, err := ReadAdapterInfo(adapter)
	if err != nil {
		return nil, err
	}
	switch channel {
	case ChannelUser:
		return openUser(adapter, info.Up)
	case ChannelRaw:
		return openRaw(adapter, info.Up)
	case ChannelAuto:
		s, userErr := openUser(adapter, info.Up)
		if userErr == nil {
			return s, nil
		}
		s, rawErr := openRaw(adapter, info.Up)
		if rawErr != nil {
			return nil, fmt.Errorf("hci%d: neither channel opens: %w; %w", adapter, userErr, rawErr)
		}
		return s, nil
	}
	return nil, fmt.Errorf("hci%d: unknown channel %v", adapter, channel)
}

func newHCISocket() (int, error) {
	fd, err := unix.Socket(unix.AF_BLUETOOTH, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.BTPROTO_HCI)
	if err != nil {
		return -1, fmt.Errorf("socket(AF_BLUETOOTH, BTPROTO_HCI): %w", err)
	}
	return fd, nil
}

// adapterIoctl issues an HCIDEV* ioctl on a fresh unbound socket, since a
// user-channel socket refuses them.
func adapterIoctl(req uintptr, adapter int) error {
	fd, err := newHCISocket()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(adapter))
	if errno != 0 {
		return errno
	}
	return nil
}

// SetAdapterUp powers adapter hciN up (HCIDEVUP), as `hciconfig hciN up`
// does; an adapter already up is no error. Needs CAP_NET_ADMIN.
func SetAdapterUp(adapter int) error { return setAdapterUp(adapter) }

// SetAdapterDown powers adapter hciN down (HCIDEVDOWN). Needs
// CAP_NET_ADMIN.
func SetAdapterDown(adapter int) error { return setAdapterDown(adapter) }

func setAdapterUp(adapter int) error {
	err := adapterIoctl(ioctlHCIDevUp, adapter)
	if err != nil && !errors.Is(err, unix.EALREADY) {
		return fmt.Errorf("hci%d: HCIDEVUP: %w", adapter, err)
	}
	return nil
}

func setAdapterDown(adapter int) error {
	if err := adapterIoctl(ioctlHCIDevDown, adapter); err != nil {
		return fmt.Errorf("hci%d: HCIDEVDOWN: %w", adapter, err)
	}
	return nil
}

// AdapterInfo is what the kernel knows about an adapter (HCIGETDEVINFO).
type AdapterInfo struct {
	Index int
	Name  string
	// Address in display order; zero until the adapter has been up once.
	Address [6]byte
	Up      bool
	Flags   uint32
}

// ReadAdapterInfo asks the kernel about hciN. It fails with ENODEV when
// there is no such adapter.
func ReadAdapterInfo(adapter int) (AdapterInfo, error) {
	fd, err := newHCISocket()
	if err != nil {
		return AdapterInfo{}, fmt.Errorf("hci%d: %w", adapter, err)
	}
	defer unix.Close(fd)
	var buf [hciDevInfoSize]byte
	buf[0], buf[1] = byte(adapter), byte(adapter>>8)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), ioctlHCIGetDevInfo, uintptr(unsafe.Pointer(&buf[0])))
	if errno != 0 {
		return AdapterInfo{}, fmt.Errorf("hci%d: HCIGETDEVINFO: %w", adapter, errno)
	}
	info := AdapterInfo{Index: adapter}
	name := buf[2:10]
	for i, c := range name {
		if c == 0 {
			name = name[:i]
			break
		}
	}
	info.Name = string(name)
	for i := range 6 {
		info.Address[i] = buf[10+5-i]
	}
	info.Flags = uint32(buf[16]) | uint32(buf[17])<<8 | uint32(buf[18])<<16 | uint32(buf[19])<<24
	info.Up = info.Flags&hciDevFlagUp != 0
	return info, nil
}

func openUser(adapter int, wasUp bool) (*hciSocket, error) {
	fd, err := newHCISocket()
	if err != nil {
		return nil, err
	}
	addr := &unix.SockaddrHCI{Dev: uint16(adapter), Channel: unix.HCI_CHANNEL_USER}
	for attempt := 0; ; attempt++ {
		err = unix.Bind(fd, addr)
		if err == nil {
			break
		}
		// EBUSY: the adapter is up (or still going down); take it down
		// and try again, as the kernel requires for exclusive access.
		if !errors.Is(err, unix.EBUSY) || attempt >= userChannelRetries {
			unix.Close(fd)
			if wasUp {
				_ = setAdapterUp(adapter)
			}
			return nil, fmt.Errorf("hci%d: bind user channel (attempt %d): %w", adapter, attempt+1, err)
		}
		if downErr := setAdapterDown(adapter); downErr != nil {
			unix.Close(fd)
			return nil, downErr
		}
		if attempt > 0 {
			time.Sleep(userChannelBackoff)
		}
	}
	return finishOpen(fd, adapter, ChannelUser, wasUp, false)
}

// hciFilter is struct hci_filter: a packet-type mask, a 64-bit event mask
// and an opcode (0 = any), padded to 16 bytes.
type hciFilter struct {
	typeMask  uint32
	eventMask [2]uint32
	opcode    uint16
	_         uint16
}

func openRaw(adapter int, wasUp bool) (*hciSocket, error) {
	raised := false
	if !wasUp {
		if err := setAdapterUp(adapter); err != nil {
			return nil, err
		}
		raised = true
	}
	fd, err := newHCISocket()
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*hciSocket, error) {
		unix.Close(fd)
		if raised {
			_ = setAdapterDown(adapter)
		}
		return nil, err
	}
	// The default filter of a raw socket passes nothing; ask for every
	// event so command responses and advertising reports both arrive.
	filter := hciFilter{typeMask: 1 << hciPacketEvent, eventMask: [2]uint32{0xFFFFFFFF, 0xFFFFFFFF}}
	if _, _, errno := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), solHCI, optHCIFilter,
		uintptr(unsafe.Pointer(&filter)), unsafe.Sizeof(filter), 0); errno != 0 {
		return fail(fmt.Errorf("hci%d: setsockopt HCI_FILTER: %w", adapter, errno))
	}
	if err := unix.Bind(fd, &unix.SockaddrHCI{Dev: uint16(adapter), Channel: unix.HCI_CHANNEL_RAW}); err != nil {
		return fail(fmt.Errorf("hci%d: bind raw channel: %w", adapter, err))
	}
	return finishOpen(fd, adapter, ChannelRaw, wasUp, raised)
}

func finishOpen(fd, adapter int, ch Channel, wasUp, raised bool) (*hciSocket, error) {
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("hci%d: eventfd: %w", adapter, err)
	}
	return &hciSocket{fd: fd, wake: wake, adapter: adapter, channel: ch, wasUp: wasUp, raisedUp: raised, closed: make(chan struct{})}, nil
}

// Adapter is the index N of hciN.
func (s *hciSocket) Adapter() int { return s.adapter }

// Channel is the channel the socket is bound to (never ChannelAuto).
func (s *hciSocket) Channel() Channel { return s.channel }

// ReadPacket reads one packet (H4 indicator first) into p, blocking until
// one arrives or the socket is closed.
func (s *hciSocket) ReadPacket(p []byte) (int, error) {
	s.readMu.Lock()
	defer s.readMu.Unlock()
	fds := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}, {Fd: int32(s.wake), Events: unix.POLLIN}}
	for {
		select {
		case <-s.closed:
			return 0, ErrClosed
		default:
		}
		n, err := unix.Read(s.fd, p)
		if err == nil {
			if n == 0 {
				return 0, fmt.Errorf("hci%d: read: adapter gone", s.adapter)
			}
			return n, nil
		}
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			return 0, fmt.Errorf("hci%d: read: %w", s.adapter, err)
		}
		fds[0].Revents, fds[1].Revents = 0, 0
		if _, err := unix.Poll(fds, -1); err != nil && !errors.Is(err, unix.EINTR) {
			return 0, fmt.Errorf("hci%d: poll: %w", s.adapter, err)
		}
		if fds[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 && fds[0].Revents&unix.POLLIN == 0 {
			return 0, fmt.Errorf("hci%d: socket error (revents 0x%x): adapter removed or reset", s.adapter, fds[0].Revents)
		}
	}
}

// WritePacket writes one packet (H4 indicator first).
func (s *hciSocket) WritePacket(p []byte) error {
	select {
	case <-s.closed:
		return ErrClosed
	default:
	}
	for {
		n, err := unix.Write(s.fd, p)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			fds := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLOUT}}
			_, _ = unix.Poll(fds, 100)
			continue
		}
		if err != nil {
			return fmt.Errorf("hci%d: write %d-byte packet: %w", s.adapter, len(p), err)
		}
		if n != len(p) {
			return fmt.Errorf("hci%d: short write: %d of %d bytes", s.adapter, n, len(p))
		}
		return nil
	}
}

// Close releases the socket and puts the adapter back the way it was:
// up again after the user channel took it down, down again if the raw
// channel had to bring it up.
func (s *hciSocket) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		one := [8]byte{1}
		_, _ = unix.Write(s.wake, one[:])
		s.readMu.Lock()
		defer s.readMu.Unlock()
		var errs []error
		if err := unix.Close(s.fd); err != nil {
			errs = append(errs, fmt.Errorf("hci%d: close: %w", s.adapter, err))
		}
		switch {
		case s.channel == ChannelUser && s.wasUp:
			// The kernel closes the user channel asynchronously; HCIDEVUP
			// can race it and see EBUSY for a moment.
			var err error
			for range userChannelRetries {
				if err = setAdapterUp(s.adapter); !errors.Is(err, unix.EBUSY) {
					break
				}
				time.Sleep(userChannelBackoff)
			}
			if err != nil {
				errs = append(errs, err)
			}
		case s.channel == ChannelRaw && s.raisedUp:
			if err := setAdapterDown(s.adapter); err != nil {
				errs = append(errs, err)
			}
		}
		unix.Close(s.wake)
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
