#!/usr/bin/env python3
"""Independent implementation of spec §9.3 (local information hiding) that
writes vectors.json, which pact's tests check the Go code against.

Uses only Python's hashlib/hmac/struct and the `cryptography` package (HMAC
and ChaCha20-Poly1305); XChaCha20-Poly1305 is built from them through HChaCha20
(draft-irtf-cfrg-xchacha §2.2), written out here.

    python3 pact/testdata/hiding/vectors.py > pact/testdata/hiding/vectors.json
"""
import hashlib
import hmac
import json
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives import hmac as crypto_hmac

TAG_LABEL = b"PACT v0.1 contact tag"
KEY_LABEL = b"PACT v0.1 contact metadata key"
SEALED_LABEL = b"PACT v0.1 sealed contact"


def rotl(v, n):
    return ((v << n) | (v >> (32 - n))) & 0xFFFFFFFF


def hchacha20(key, nonce16):
    s = list(struct.unpack("<4I", b"expand 32-byte k")) + list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))

    def qr(a, b, c, d):
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = rotl(s[d] ^ s[a], 16)
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = rotl(s[b] ^ s[c], 12)
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = rotl(s[d] ^ s[a], 8)
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = rotl(s[b] ^ s[c], 7)

    for _ in range(10):
        qr(0, 4, 8, 12); qr(1, 5, 9, 13); qr(2, 6, 10, 14); qr(3, 7, 11, 15)
        qr(0, 5, 10, 15); qr(1, 6, 11, 12); qr(2, 7, 8, 13); qr(3, 4, 9, 14)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


def xchacha20poly1305_seal(key, nonce24, plain, ad):
    sub = hchacha20(key, nonce24[:16])
    return ChaCha20Poly1305(sub).encrypt(b"\0\0\0\0" + nonce24[16:], plain, ad)


def tag(chirp):
    return chirp[:2] + hashlib.sha256(TAG_LABEL + b"\0" + chirp).digest()[:14]


def key(chirp):
    # HKDF-Extract(salt = KEY_LABEL, IKM = chirp), which is HMAC-SHA256 keyed
    # with KEY_LABEL: computed with the standard library and checked against
    # the cryptography package's HMAC.
    k = hmac.new(KEY_LABEL, chirp, hashlib.sha256).digest()
    h = crypto_hmac.HMAC(KEY_LABEL, hashes.SHA256())
    h.update(chirp)
    assert h.finalize() == k
    return k


def fields(rssi, source, location, tx_power):
    out = bytes([1])  # version
    out += bytes([1, 1]) + struct.pack(">b", rssi)
    out += bytes([2, len(source)]) + source.encode()
    if location is not None:
        out += bytes([3, 16]) + struct.pack(">dd", *location)
    # TX power, left out when unknown (127).
    if tx_power is not None:
        out += bytes([4, 1]) + struct.pack(">b", tx_power)
    return out


def vector(name, chirp, minute, rssi, source, location, nonce, tx_power=None):
    t = tag(chirp)
    k = key(chirp)
    plain = fields(rssi, source, location, tx_power)
    ad = SEALED_LABEL + b"\0" + struct.pack(">I", minute) + t
    sealed = nonce + xchacha20poly1305_seal(k, nonce, plain, ad)
    v = {"name": name, "chirp": chirp.hex(), "minute": minute, "rssi": rssi, "source": source,
         "tag": t.hex(), "key": k.hex(), "nonce": nonce.hex(), "plaintext": plain.hex(), "sealed": sealed.hex()}
    if location is not None:
        v["lat"], v["lon"] = location
    if tx_power is not None:
        v["tx_power"] = tx_power
    return v


def main():
    # The chirp of spec §4's first vector shape: counting bytes; a Find My
    # key (the x-coordinate of a P-224 point, docs/findmy.md) as a second.
    pact_chirp = bytes(range(28))
    findmy_key = bytes.fromhex("b4050a850c04b3abf54132565044b0b7d7bfd8ba270b39432355ffb4")
    vs = [
        vector("pact chirp, no location", pact_chirp, 29462400, -67, "pact", None, bytes(range(0x40, 0x58))),
        vector("pact chirp, unknown rssi, location", pact_chirp, 29462401, 127, "pact", (52.52, 13.4), bytes(range(0x60, 0x78))),
        vector("find my key", findmy_key, 29462459, -90, "findmy", None, bytes(24)),
        vector("repeated chirp", bytes([0xff] * 28), 0, -128, "repeater", (-90.0, 180.0), bytes([0xa5] * 24)),
        vector("version 2 frame, tx power", pact_chirp, 29462402, -58, "pact", None, bytes(range(0x80, 0x98)), tx_power=-8),
        vector("repeated chirp, tx power 0 dBm", pact_chirp, 29462403, -75, "repeater", None, bytes(range(0x90, 0xa8)), tx_power=0),
    ]
    print(json.dumps(vs, indent=1))


if __name__ == "__main__":
    main()
