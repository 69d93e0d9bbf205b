package node_test

import (
	"errors"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/node"
	"github.com/pact-findmy/pact-findmy/internal/share"
)

func TestParseKeyMaterial(t *testing.T) {
	const (
		sk0  = "93445416ec078a5bea5a04a66bceb5140194b0e94c889928f8ab3f4fe95588ba"
		d0   = "4a28f17c3ca9f90f49894f5b3ff8cf4a74e66475f0c121d592a2bd2d"
		p0   = "04ecd8e89e5f76b78f597d9414a953e65ce2509910110a06bf48d1a249d910342aea4450becc5a1fdc7bb7390663fabda1b3365a1406637201"
		p0c  = "02ecd8e89e5f76b78f597d9414a953e65ce2509910110a06bf48d1a249"
		sks0 = "637a2ad578e829f1e087df043d4d7b6fcb803fd3f6c845ed0fec8d71cff60338"
	)
	paired := time.Date(2026, 3, 1, 3, 0, 0, 0, time.FixedZone("", 3600))
	tests := []struct {
		name string
		in   string
		want []share.FindMyDevice
		err  error
	}{
		{"primary only", "tag " + sk0 + " " + d0 + " 2026-03-01T03:00:00+01:00",
			[]share.FindMyDevice{{Name: "tag", Secret: sk0, PrivateKey: d0, Epoch: paired}}, nil},
		{"with a secondary secret, comments and blank lines", "# mine\n\ntag " + sk0 + " " + d0 + " 2026-03-01T03:00:00+01:00 " + sks0 + "\n",
			[]share.FindMyDevice{{Name: "tag", Secret: sk0, PrivateKey: d0, SecondarySecret: sks0, Epoch: paired}}, nil},
		{"an uncompressed public key", "tag " + sk0 + " " + p0 + " 2026-03-01T03:00:00+01:00", nil, node.ErrKeyMaterial},
		{"a compressed public key", "tag " + sk0 + " " + p0c + " 2026-03-01T03:00:00+01:00", nil, node.ErrKeyMaterial},
		{"three fields", "tag " + sk0 + " " + d0, nil, node.ErrKeyMaterial},
		{"six fields", "tag " + sk0 + " " + d0 + " 2026-03-01T03:00:00+01:00 " + sks0 + " x", nil, node.ErrKeyMaterial},
		{"pairing time without an offset", "tag " + sk0 + " " + d0 + " 2026-03-01T03:00:00", nil, node.ErrKeyMaterial},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := node.ParseKeyMaterial(tt.in)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("ParseKeyMaterial = %v, want %v", err, tt.err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if g.Name != w.Name || g.Secret != w.Secret || g.PrivateKey != w.PrivateKey || g.SecondarySecret != w.SecondarySecret || !g.Epoch.Equal(w.Epoch) {
					t.Errorf("device %d = %+v, want %+v", i, g, w)
				}
				if _, off := g.Epoch.Zone(); off != 3600 {
					t.Errorf("device %d: pairing time's offset %d s, want 3600: it places the 04:00 rollover", i, off)
				}
			}
		})
	}
}
