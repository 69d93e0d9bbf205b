#!/usr/bin/env python3
"""Writes vectors.json, the version-2 frame vectors (docs/native-frame.md §7.6.6).

It builds every AD structure from the text of the spec alone, with no code
from the Go implementation, so `go test ./pact -run Frame` checks two
readings of the spec against each other. Run from this directory:

    python3 vectors.py > vectors.json
"""
import json
import uuid

FRAME_UUID = uuid.UUID("86111c4f-b36d-4f62-a163-d87b76273aea")
AD_SERVICE_DATA_128 = 0x21
UNKNOWN = 127

chirps = {v["seed"][:8] + ".. minute %d" % v["minute"]: v["chirp"]
          for v in json.load(open("../vectors/chirps.json"))}


def ad(payload, ad_type=AD_SERVICE_DATA_128, uid=FRAME_UUID):
    body = bytes([ad_type]) + uid.bytes[::-1] + payload  # UUID least significant byte first
    return bytes([len(body)]) + body


def payload(chirp, tx, repeated=False, key=False, age=0, header=None):
    h = 0x20 | (1 if repeated else 0) | (2 if key else 0)
    if header is not None:
        h = header
    p = bytes([h]) + bytes.fromhex(chirp) + (tx & 0xFF).to_bytes(1, "little")
    if repeated:
        p += bytes([age])
    return p


cases = []


def good(name, chirp, tx, repeated=False, key=False, age=0, before=b"", after=b"", canonical=True):
    cases.append({
        "name": name,
        "ad": (before + ad(payload(chirp, tx, repeated, key, age)) + after).hex(),
        "chirp": chirp,
        "kind": "findmy_key" if key else "chirp",
        "tx_power": tx,
        "repeated": repeated,
        "age": age,
        "canonical": canonical,
    })


def bad(name, data, reject, error):
    cases.append({"name": name, "ad": data.hex(), "reject": reject, "error": error})


names = sorted(chirps)
c0 = chirps["00000000.. minute 0"]
good("chirp of seed 00000000.. minute 0, TX power unknown", c0, UNKNOWN)
good("chirp of seed 00000000.. minute 1, 0 dBm", chirps["00000000.. minute 1"], 0)
good("chirp of seed 00000000.. minute 59, -12 dBm", chirps["00000000.. minute 59"], -12)
good("chirp of seed ffffffff.. minute 0, +20 dBm", chirps["ffffffff.. minute 0"], 20)
good("chirp, -127 dBm", chirps["8a5c2e1f.. minute 60"], -127)
good("repeated chirp, age 0", c0, -4, repeated=True, age=0)
good("repeated chirp, age 255", c0, 8, repeated=True, age=255)
good("repeated Find My key, age 7", "ff" * 28, UNKNOWN, repeated=True, key=True, age=7)
good("after Flags and TX Power Level structures", c0, 0, before=bytes.fromhex("020106020a00"), canonical=False)
good("before zero padding", c0, 0, after=b"\x00\x00\x00", canonical=False)
good("first of two frames", c0, 0, after=ad(payload(chirps["00000000.. minute 1"], 0)), canonical=False)

bad("empty data", b"", "not_advert", "no AD structure")
bad("only padding", b"\x00" * 31, "not_advert", "no AD structure")
bad("version 1 frame", bytes.fromhex("1effffff504354014add7702504cc1ad749d198e2c4de21dfa3432bf404f01"), "not_advert", "no service data with the frame UUID")
bad("other 128-bit UUID", ad(payload(c0, 0), uid=uuid.UUID("86111c4f-b36d-4f62-a163-d87b76273aeb")), "not_advert", "UUID differs in its last byte")
bad("frame UUID as a service UUID list", ad(payload(c0, 0), ad_type=0x07), "not_advert", "AD type 0x07, not service data")
bad("16-bit service data 0xFD6F", bytes([3 + 30, 0x16, 0x6F, 0xFD]) + payload(c0, 0), "not_advert", "GAEN's UUID")
bad("length overruns data", ad(payload(c0, 0))[:-1], "malformed", "AD length")
bad("structure overruns before the frame", bytes([5, 0x01, 0x06]), "malformed", "AD length")
bad("no service data after UUID", ad(b""), "malformed", "service data length 0")
bad("version 1 in header", ad(payload(c0, 0, header=0x10)), "malformed", "version")
bad("version 3 in header", ad(payload(c0, 0, header=0x30)), "malformed", "version")
bad("reserved flag bit 2", ad(payload(c0, 0, header=0x24)), "malformed", "flags")
bad("reserved flag bit 3", ad(payload(c0, 0, header=0x28)), "malformed", "flags")
bad("Find My key not repeated", ad(payload(c0, 0, header=0x22)), "malformed", "flags")
bad("repeated without age", ad(payload(c0, 0, header=0x21)), "malformed", "service data length")
bad("not repeated with age", ad(payload(c0, 0) + b"\x00"), "malformed", "service data length")
bad("chirp cut short", ad(payload(c0, 0)[:-2]), "malformed", "service data length")
bad("TX power +21 dBm", ad(payload(c0, 21)), "malformed", "TX power")
bad("TX power 126", ad(payload(c0, 126)), "malformed", "TX power")
bad("TX power -128 dBm", ad(payload(c0, -128)), "malformed", "TX power")

addresses = [
    {"address": "00:00:00:00:00:01", "nrpa": True},
    {"address": "3F:FF:FF:FF:FF:FE", "nrpa": True},
    {"address": "1A:2B:3C:4D:5E:6F", "nrpa": True},
    {"address": "00:00:00:00:00:00", "nrpa": False, "error": "random bits all zero"},
    {"address": "3F:FF:FF:FF:FF:FF", "nrpa": False, "error": "random bits all one"},
    {"address": "40:00:00:00:00:01", "nrpa": False, "error": "resolvable private address (0b01)"},
    {"address": "CE:65:C2:F9:0B:32", "nrpa": False, "error": "random static address (0b11)"},
    {"address": "80:00:00:00:00:01", "nrpa": False, "error": "reserved (0b10)"},
]

print(json.dumps({
    "description": "Native PACT frame version 2 (docs/native-frame.md \u00a77.6): ad is the advertising data; "
                   "tx_power in dBm, 127 unknown; reject is not_advert (ErrNotAdvert) or malformed (ErrAdvertMalformed). "
                   "addresses are display order, most significant byte first; nrpa says whether a frame may come from it.",
    "uuid": str(FRAME_UUID),
    "cases": cases,
    "addresses": addresses,
}, indent=2))
