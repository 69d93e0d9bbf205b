package main

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/internal/cli"
	"github.com/pact-findmy/pact-findmy/pact"
)

// maxDeriveCount bounds one run: a year of 15-minute keys.
const maxDeriveCount = 366 * 24 * 4

// maxEpochIndex is the last key index whose offset from --epoch a
// time.Duration holds: about 290 years of 15-minute keys.
const maxEpochIndex = uint64(math.MaxInt64 / int64(findmy.RotationPeriod))

// errKeyChoice is the usage error of derive given both or neither of
// --private-key and --public-key.
var errKeyChoice = errors.New("want one key")

func deriveCommand(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("derive", "--secret HEX (--private-key HEX | --public-key HEX) [flags]\n\nPrints the rolling Offline Finding keys i = from .. from+count-1 as JSON\nlines (docs/findmy.md §5). Key i is derived from SK_i, the secret\nupdated i times. With --epoch, each line also gives the minutes during\nwhich key i is advertised (15 minutes from epoch + i*15 min), the window\nan owner publishes for matching.", stdout, stderr)
	secret := fs.String("secret", "", "SK_0, the 32-byte symmetric key, in hex")
	private := fs.String("private-key", "", "d_0, the 28-byte P-224 private key, in hex")
	public := fs.String("public-key", "", "P_0, the P-224 public key in SEC 1 form (04||x||y or 02/03||x), in hex")
	from := fs.Uint64("from", 0, "first key index")
	count := fs.Uint64("count", 1, "number of keys")
	epoch := fs.String("epoch", "", "RFC 3339 time at which key 0 became current (optional)")
	if err := fs.ParseNoArgs(args); err != nil {
		return err
	}
	skBytes, err := hex.DecodeString(*secret)
	if err != nil || len(skBytes) != findmy.SecretSize {
		return cli.FlagErrorf("secret", clipArg(*secret), "want %d bytes of hex", findmy.SecretSize)
	}
	if (*private == "") == (*public == "") {
		return cli.Usagef("%w: give exactly one of --private-key and --public-key", errKeyChoice)
	}
	if *count == 0 || *count > maxDeriveCount {
		return cli.FlagErrorf("count", *count, "want 1..%d", maxDeriveCount)
	}
	if *from > 1<<40 {
		return cli.FlagErrorf("from", *from, "an index that large is no device's")
	}
	var start time.Time
	if *epoch != "" {
		if start, err = time.Parse(time.RFC3339, *epoch); err != nil {
			return cli.FlagErrorf("epoch", *epoch, "%w", err)
		}
		// Index * 15 min must fit a time.Duration, or the minutes printed
		// for the key would silently wrap around to some other time.
		if last := *from + *count - 1; last > maxEpochIndex {
			return cli.FlagErrorf("from", *from, "with --count %d and --epoch, key %d starts more than %v after the epoch",
				*count, last, time.Duration(maxEpochIndex)*findmy.RotationPeriod)
		}
	}
	w := bufio.NewWriter(stdout)
	emit := func(k findmy.RollingKey) error {
		b := []byte(`{"index":`)
		b = strconv.AppendUint(b, k.Index, 10)
		b = append(b, `,"key":"`...)
		key := k.Public.Key()
		b = hex.AppendEncode(b, key[:])
		b = append(b, `","public_key":"`...)
		b = hex.AppendEncode(b, k.Public.Bytes())
		if k.Private != nil {
			b = append(b, `","private_key":"`...)
			b = hex.AppendEncode(b, k.Private.Bytes())
		}
		b = append(b, '"')
		if !start.IsZero() {
			first := start.Add(time.Duration(k.Index) * findmy.RotationPeriod)
			last := first.Add(findmy.RotationPeriod - time.Second)
			b = append(b, `,"start_minute":`...)
			b = strconv.AppendUint(b, uint64(pact.MinuteOf(first)), 10)
			b = append(b, `,"end_minute":`...)
			b = strconv.AppendUint(b, uint64(pact.MinuteOf(last)), 10)
			b = append(b, `,"start":"`...)
			b = first.UTC().AppendFormat(b, time.RFC3339)
			b = append(b, '"')
		}
		b = append(b, "}\n"...)
		_, err := w.Write(b)
		return err
	}
	if *private != "" {
		d0, perr := findmy.ParsePrivateKey(*private)
		if perr != nil {
			return cli.FlagErrorf("private-key", clipArg(*private), "%w", perr)
		}
		err = findmy.ScheduleFromPrivateKey(findmy.Secret(skBytes), d0, *from, *count, emit)
	} else {
		p0, perr := findmy.ParsePublicKey(*public)
		if perr != nil {
			return cli.FlagErrorf("public-key", clipArg(*public), "%w", perr)
		}
		err = findmy.ScheduleFromPublicKey(findmy.Secret(skBytes), p0, *from, *count, emit)
	}
	if err != nil {
		return fmt.Errorf("deriving keys: %w", err)
	}
	return w.Flush()
}

func clipArg(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
