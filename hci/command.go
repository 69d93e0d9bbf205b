package hci

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by reads and writes on a closed connection to a
// controller.
var ErrClosed = errors.New("hci: connection closed")

// H4 packet indicators (Core spec Vol 4 Part A §2) as the Linux HCI socket
// frames packets too.
const (
	hciPacketCommand = 0x01
	hciPacketEvent   = 0x04
)

// Opcode is an HCI command opcode, OGF<<10 | OCF (Core spec Vol 4 Part E
// §5.4.1).
type Opcode uint16

// Commands this package sends (Core spec Vol 4 Part E §7.3, §7.4, §7.8).
const (
	opSetEventMask                   Opcode = 0x0C01 // §7.3.1
	opReset                          Opcode = 0x0C03 // §7.3.2
	opReadLocalSupportedCommands     Opcode = 0x1002 // §7.4.2
	opReadBDAddr                     Opcode = 0x1009 // §7.4.6
	opLESetEventMask                 Opcode = 0x2001 // §7.8.1
	opLEReadLocalSupportedFeatures   Opcode = 0x2003 // §7.8.3
	opLESetRandomAddress             Opcode = 0x2005 // §7.8.4
	opLESetAdvertisingParameters     Opcode = 0x2006 // §7.8.5
	opLESetAdvertisingData           Opcode = 0x2008 // §7.8.7
	opLESetAdvertiseEnable           Opcode = 0x200A // §7.8.9
	opLESetScanParameters            Opcode = 0x200B // §7.8.10
	opLESetScanEnable                Opcode = 0x200C // §7.8.11
	opLESetExtendedScanParameters    Opcode = 0x2041 // §7.8.64
	opLESetExtendedScanEnable        Opcode = 0x2042 // §7.8.65
	opNop                            Opcode = 0x0000 // Command Complete with no command: a credit update
	maxCommandParams                        = 255
	commandHeaderLen                        = 3 // opcode, parameter length
	commandCompleteFixed                    = 3 // Num_HCI_Command_Packets, Command_Opcode
	commandStatusLen                        = 4 // Status, Num_HCI_Command_Packets, Command_Opcode
	eventHardwareError               uint8  = 0x10
	defaultCommandTimeout                   = 3 * time.Second
	statusCommandDisallowed          uint8  = 0x0C
	statusUnknownCommand             uint8  = 0x01
	statusUnsupportedFeatureOrParams uint8  = 0x11
)

var opcodeNames = map[Opcode]string{
	opSetEventMask:                 "Set Event Mask",
	opReset:                        "Reset",
	opReadLocalSupportedCommands:   "Read Local Supported Commands",
	opReadBDAddr:                   "Read BD_ADDR",
	opLESetEventMask:               "LE Set Event Mask",
	opLEReadLocalSupportedFeatures: "LE Read Local Supported Features",
	opLESetRandomAddress:           "LE Set Random Address",
	opLESetAdvertisingParameters:   "LE Set Advertising Parameters",
	opLESetAdvertisingData:         "LE Set Advertising Data",
	opLESetAdvertiseEnable:         "LE Set Advertising Enable",
	opLESetScanParameters:          "LE Set Scan Parameters",
	opLESetScanEnable:              "LE Set Scan Enable",
	opLESetExtendedScanParameters:  "LE Set Extended Scan Parameters",
	opLESetExtendedScanEnable:      "LE Set Extended Scan Enable",
}

func (o Opcode) String() string {
	if n, ok := opcodeNames[o]; ok {
		return fmt.Sprintf("%s (0x%04X)", n, uint16(o))
	}
	return fmt.Sprintf("opcode 0x%04X (OGF 0x%02X OCF 0x%03X)", uint16(o), uint16(o)>>10, uint16(o)&0x3FF)
}

// ErrNoCredit is wrapped by the error for a command that was never sent:
// the controller's last Num_HCI_Command_Packets was 0 (Core spec Vol 4
// Part E §4.4) and no event handed a credit back within the timeout.
var ErrNoCredit = errors.New("the controller accepts no commands (Num_HCI_Command_Packets 0)")

// command is an HCI command that encodes its own parameters (Core spec
// Vol 4 Part E §5.4.1): the method set of the command types in
// github.com/go-ble/ble/linux/hci/cmd, which this package uses wherever
// go-ble has the command.
type command interface {
	// OpCode is OGF<<10 | OCF.
	OpCode() int
	// Len is the number of parameter bytes.
	Len() int
	// Marshal writes the parameters into a buffer of Len bytes.
	Marshal([]byte) error
}

// appendCommand appends cmd as an HCI command packet with its H4
// indicator.
func appendCommand(dst []byte, cmd command) ([]byte, error) {
	op, n := Opcode(cmd.OpCode()), cmd.Len()
	if n > maxCommandParams {
		return dst, fmt.Errorf("%w: %v: %d parameter bytes, at most %d fit", ErrUnencodable, op, n, maxCommandParams)
	}
	dst = append(dst, hciPacketCommand, byte(op), byte(op>>8), byte(n))
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	if err := cmd.Marshal(dst[start:]); err != nil {
		return dst[:start-commandHeaderLen-1], fmt.Errorf("hci: encode %v: %w", op, err)
	}
	return dst, nil
}

// commandResponse is a Command Complete or Command Status event (Core spec
// Vol 4 Part E §7.7.14, §7.7.15).
type commandResponse struct {
	// Opcode is the command answered; 0 for a bare credit update.
	Opcode Opcode
	// Credits is Num_HCI_Command_Packets: how many commands the
	// controller accepts now.
	Credits uint8
	// Status is the command's status: Command Status carries it in its
	// own field, Command Complete as the first return parameter.
	Status uint8
	// Return holds the return parameters after Status (Command Complete
	// only). It aliases the event.
	Return []byte
	// Pending is true for Command Status: the command was accepted and
	// completes later with an event of its own.
	Pending bool
}

// parseCommandResponse decodes a Command Complete or Command Status event
// packet (no H4 indicator). ok is false, with no error, for any other
// event.
func parseCommandResponse(packet []byte) (resp commandResponse, ok bool, err error) {
	if len(packet) < 1 || (packet[0] != eventCommandComplete && packet[0] != eventCommandStatus) {
		return commandResponse{}, false, nil
	}
	ev, err := parseEvent(packet)
	if err != nil {
		return commandResponse{}, true, err
	}
	p := ev.Params
	if ev.Code == eventCommandStatus {
		if len(p) != commandStatusLen {
			return commandResponse{}, true, malformed("Command Status", "Parameter_Total_Length", 1,
				"is %d, want %d", len(p), commandStatusLen)
		}
		return commandResponse{Status: p[0], Credits: p[1], Opcode: Opcode(binary.LittleEndian.Uint16(p[2:])), Pending: true}, true, nil
	}
	if len(p) < commandCompleteFixed {
		return commandResponse{}, true, malformed("Command Complete", "Parameter_Total_Length", 1,
			"is %d, need at least %d", len(p), commandCompleteFixed)
	}
	resp = commandResponse{Credits: p[0], Opcode: Opcode(binary.LittleEndian.Uint16(p[1:]))}
	ret := p[commandCompleteFixed:]
	if resp.Opcode == opNop {
		return resp, true, nil
	}
	if len(ret) < 1 {
		return commandResponse{}, true, malformed("Command Complete", "Status", eventHeaderLen+commandCompleteFixed,
			"missing for %v", resp.Opcode)
	}
	resp.Status, resp.Return = ret[0], ret[1:]
	return resp, true, nil
}

// CommandError is a command the controller refused or never answered.
type CommandError struct {
	Opcode Opcode
	// Status is the HCI error code (Core spec Vol 1 Part F); 0 with
	// Timeout set when no answer came.
	Status  uint8
	Timeout bool
}

func (e *CommandError) Error() string {
	if e.Timeout {
		return fmt.Sprintf("hci: %v: no Command Complete/Status from the controller", e.Opcode)
	}
	return fmt.Sprintf("hci: %v: controller error 0x%02X (%s)", e.Opcode, e.Status, statusText(e.Status))
}

func statusText(s uint8) string {
	switch s {
	case statusUnknownCommand:
		return "unknown HCI command"
	case statusCommandDisallowed:
		return "command disallowed"
	case statusUnsupportedFeatureOrParams:
		return "unsupported feature or parameter value"
	case 0x12:
		return "invalid HCI command parameters"
	case 0x0D, 0x0E, 0x0F:
		return "connection rejected"
	case 0x07:
		return "memory capacity exceeded"
	case 0x03:
		return "hardware failure"
	}
	return "see Core spec Vol 1 Part F"
}

// packetConn carries whole HCI packets, each starting with its H4 packet
// indicator: a Linux HCI socket, or H4 over a serial line.
type packetConn interface {
	ReadPacket(p []byte) (int, error)
	WritePacket(p []byte) error
	Close() error
}

// rxEvent is an advertising report event with its host receive time.
type rxEvent struct {
	at     time.Time
	packet []byte
}

// reportQueueLen bounds the reports waiting for the consumer. The reader
// must never block on a slow consumer, or command responses stall behind
// reports; past this, reports are dropped and counted.
const reportQueueLen = 4096

// ControllerStats are running totals, safe to read while the controller
// runs.
type ControllerStats struct {
	Events, AdvEvents, Dropped, Malformed, HardwareErrors uint64
	// Reassembly counts fragmented extended reports joined or dropped.
	Reassembly ReassemblyStats
}

// controller runs commands against an HCI controller and collects its
// advertising reports. One goroutine reads the connection; commands are
// serialised, one outstanding at a time, which every controller accepts
// whatever its command credits say.
type controller struct {
	conn    packetConn
	timeout time.Duration
	log     *slog.Logger

	cmdMu   sync.Mutex
	pending struct {
		sync.Mutex
		op Opcode
		ch chan commandResponse
	}
	reports chan rxEvent

	// credit tracks Num_HCI_Command_Packets: a controller that answers
	// with 0 accepts no command until a later event hands a credit back,
	// and may drop one sent before.
	credit struct {
		sync.Mutex
		exhausted bool
		returned  chan struct{} // closed when a credit comes back
	}

	events, advEvents, dropped, malformed, hwErrors atomic.Uint64
	// dec decodes the queued report events; only Reports uses it, but its
	// reassembly counts are read by Stats.
	dec AdvDecoder

	done    chan struct{}
	readErr error
}

// newController starts reading conn. timeout bounds each command; 0 means
// three seconds. log may be nil.
func newController(conn packetConn, timeout time.Duration, log *slog.Logger) *controller {
	if timeout <= 0 {
		timeout = defaultCommandTimeout
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &controller{conn: conn, timeout: timeout, log: log, reports: make(chan rxEvent, reportQueueLen), done: make(chan struct{})}
	go c.readLoop()
	return c
}

func (c *controller) readLoop() {
	defer close(c.done)
	buf := make([]byte, 4096)
	for {
		n, err := c.conn.ReadPacket(buf)
		if err != nil {
			c.readErr = err
			return
		}
		at := time.Now()
		if n < 1 || buf[0] != hciPacketEvent {
			continue // ACL, SCO or ISO data: not ours to handle
		}
		packet := buf[1:n]
		c.events.Add(1)
		if resp, ok, err := parseCommandResponse(packet); ok {
			if err != nil {
				c.malformed.Add(1)
				c.log.Warn("skipping malformed command response", "err", err)
				continue
			}
			c.deliver(resp)
			continue
		}
		if len(packet) > 0 && packet[0] == eventHardwareError {
			c.hwErrors.Add(1)
			c.log.Error("controller reported a hardware error", "event", fmt.Sprintf("%X", packet))
			continue
		}
		if !IsAdvReportEvent(packet) {
			continue
		}
		c.advEvents.Add(1)
		select {
		case c.reports <- rxEvent{at: at, packet: append([]byte(nil), packet...)}:
		default:
			c.dropped.Add(1)
		}
	}
}

func (c *controller) deliver(resp commandResponse) {
	c.credit.Lock()
	switch {
	case resp.Credits == 0 && !c.credit.exhausted:
		c.credit.exhausted, c.credit.returned = true, make(chan struct{})
	case resp.Credits > 0 && c.credit.exhausted:
		c.credit.exhausted = false
		close(c.credit.returned)
	}
	c.credit.Unlock()
	if resp.Opcode == opNop {
		return
	}
	c.pending.Lock()
	defer c.pending.Unlock()
	if c.pending.ch == nil || c.pending.op != resp.Opcode {
		// A response to a command of someone else (the kernel, on the
		// raw channel) or to one that already timed out.
		return
	}
	resp.Return = append([]byte(nil), resp.Return...)
	c.pending.ch <- resp
	c.pending.ch = nil
}

// Run sends a command and waits for its Command Complete or Command
// Status. It returns the return parameters after Status; a non-zero status
// is a *CommandError. Every command goes through here: go-ble's command
// types where go-ble has the command, this package's own (extcmd.go) where
// it does not.
func (c *controller) Run(ctx context.Context, cmd command) ([]byte, error) {
	op := Opcode(cmd.OpCode())
	packet, err := appendCommand(make([]byte, 0, commandHeaderLen+1+cmd.Len()), cmd)
	if err != nil {
		return nil, err
	}
	c.cmdMu.Lock()
	defer c.cmdMu.Unlock()
	timer := time.NewTimer(c.timeout)
	defer timer.Stop()
	c.credit.Lock()
	exhausted, returned := c.credit.exhausted, c.credit.returned
	c.credit.Unlock()
	if exhausted {
		select {
		case <-returned:
		case <-timer.C:
			return nil, fmt.Errorf("hci: %v: %w and gave none back: %w", op, ErrNoCredit, &CommandError{Opcode: op, Timeout: true})
		case <-ctx.Done():
			return nil, fmt.Errorf("hci: %v: %w", op, ctx.Err())
		case <-c.done:
			return nil, fmt.Errorf("hci: %v: connection ended: %w", op, c.readErr)
		}
	}
	ch := make(chan commandResponse, 1)
	c.pending.Lock()
	c.pending.op, c.pending.ch = op, ch
	c.pending.Unlock()
	defer func() {
		c.pending.Lock()
		c.pending.ch = nil
		c.pending.Unlock()
	}()
	if err := c.conn.WritePacket(packet); err != nil {
		return nil, fmt.Errorf("hci: send %v: %w", op, err)
	}
	sent := time.Now()
	timer.Reset(c.timeout)
	select {
	case resp := <-ch:
		c.log.Debug("hci command", "op", op.String(), "status", resp.Status, "took", time.Since(sent))
		if resp.Status != 0 {
			return nil, &CommandError{Opcode: op, Status: resp.Status}
		}
		return resp.Return, nil
	case <-timer.C:
		return nil, &CommandError{Opcode: op, Timeout: true}
	case <-ctx.Done():
		return nil, fmt.Errorf("hci: %v: %w", op, ctx.Err())
	case <-c.done:
		return nil, fmt.Errorf("hci: %v: connection ended: %w", op, c.readErr)
	}
}

// Stats returns the running totals.
func (c *controller) Stats() ControllerStats {
	return ControllerStats{
		Events: c.events.Load(), AdvEvents: c.advEvents.Load(), Dropped: c.dropped.Load(),
		Malformed: c.malformed.Load(), HardwareErrors: c.hwErrors.Load(), Reassembly: c.dec.ReassemblyStats(),
	}
}

// Reports decodes queued advertising report events and calls fn for each
// report, stamped with its host receive time, until ctx is done, the
// connection ends or fn fails. Malformed events are counted and skipped.
// Reports already queued when ctx is done or the connection ends are
// still delivered: the controller has heard them, and a graceful stop
// must not lose them.
func (c *controller) Reports(ctx context.Context, fn func(*AdvReport) error) error {
	handle := func(ev rxEvent) error {
		if _, err := c.dec.Decode(ev.packet, ev.at, fn); err != nil {
			if !errors.Is(err, ErrMalformed) {
				return err
			}
			c.malformed.Add(1)
			c.log.Warn("skipping malformed advertising report", "err", err, "event", fmt.Sprintf("%X", ev.packet))
		}
		return nil
	}
	drain := func() error {
		for {
			select {
			case ev := <-c.reports:
				if err := handle(ev); err != nil {
					return err
				}
			default:
				return nil
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			return drain()
		case ev := <-c.reports:
			if err := handle(ev); err != nil {
				return err
			}
		case <-c.done:
			if err := drain(); err != nil {
				return err
			}
			if errors.Is(c.readErr, ErrClosed) {
				return nil
			}
			return fmt.Errorf("hci: reading reports: %w", c.readErr)
		}
	}
}

// Close closes the connection and waits for the reader to stop.
func (c *controller) Close() error {
	err := c.conn.Close()
	<-c.done
	return err
}

// Done is closed when the connection has ended.
func (c *controller) Done() <-chan struct{} { return c.done }
