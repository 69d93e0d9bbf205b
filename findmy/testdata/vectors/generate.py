#!/usr/bin/env python3
"""Recomputes the vectors in this directory with an implementation that
shares no code with package findmy: Python's integers and the
`cryptography` package (python3-cryptography on Debian).

    python3 findmy/testdata/vectors/generate.py findmy/testdata/vectors

The Go tests read the JSON files and check package findmy against them.
"""
import hashlib, json, os, sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

# P-224 (FIPS 186-4 D.1.2.2)
P = 2**224 - 2**96 + 1
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFF16A2E0B8F03E13DD29455C5C2A3D
B = 0xB4050A850C04B3ABF54132565044B0B7D7BFD8BA270B39432355FFB4


def kdf(z, info, n):
    return X963KDF(algorithm=hashes.SHA256(), length=n, sharedinfo=info).derive(z)


def on_curve(x):
    if x >= P:
        return False
    y2 = (x * x * x - 3 * x + B) % P
    return y2 == 0 or pow(y2, (P - 1) // 2, P) == 1


def pub_x(d):
    k = ec.derive_private_key(d, ec.SECP224R1())
    return k.public_key().public_numbers()


def schedule(outdir):
    sk0 = bytes.fromhex("93445416ec078a5bea5a04a66bceb5140194b0e94c889928f8ab3f4fe95588ba")
    # A fixed private key for the test: SHA-224 of a label, reduced.
    d0 = int.from_bytes(hashlib.sha224(b"pact-findmy schedule vector d0").digest(), "big") % (N - 1) + 1
    p0 = pub_x(d0)
    keys = []
    sk = sk0
    for i in range(4):
        if i > 0:
            sk = kdf(sk, b"update", 32)
        uv = kdf(sk, b"diversify", 72)
        u = int.from_bytes(uv[:36], "big") % (N - 1) + 1
        v = int.from_bytes(uv[36:], "big") % (N - 1) + 1
        di = (d0 * u + v) % N
        pi = pub_x(di)
        keys.append({
            "index": i,
            "secret": sk.hex(),
            "u": format(u, "056x"),
            "v": format(v, "056x"),
            "private_key": format(di, "056x"),
            "advertised_key": format(pi.x, "056x"),
            "public_key": "04" + format(pi.x, "056x") + format(pi.y, "056x"),
        })
    doc = {
        "description": "Rolling key schedule (docs/findmy.md §5). secret_chain is the public check value; keys are recomputed by generate.py.",
        "secret_chain": [
            "93445416ec078a5bea5a04a66bceb5140194b0e94c889928f8ab3f4fe95588ba",
            "33827560bd84b9587d0c16e7e6d5cd84fabb20424274996dce100736b17c9e81",
            "cd4b03f8557a9a82c606f911931fcded4a4d01e57525edcd7c46c36174ca8836",
        ],
        "kdf": [
            {"z": sk0.hex(), "info": "update", "length": 32, "out": kdf(sk0, b"update", 32).hex()},
            {"z": sk0.hex(), "info": "diversify", "length": 72, "out": kdf(sk0, b"diversify", 72).hex()},
        ],
        "secret0": sk0.hex(),
        "private_key0": format(d0, "056x"),
        "public_key0": "04" + format(p0.x, "056x") + format(p0.y, "056x"),
        "keys": keys,
    }
    # The chain computed here must agree with the published one.
    s = sk0
    for want in doc["secret_chain"][1:]:
        s = kdf(s, b"update", 32)
        assert s.hex() == want, (s.hex(), want)
    write(outdir, "schedule.json", doc)


def curve(outdir):
    cases = []
    airtag = "3b6d083d25a42807ce0b3c33332ed37b5d9d8291b1d99d0b86151897"
    cases.append({"name": "AirTag capture", "key": airtag})
    cases.append({"name": "zero", "key": "00" * 28})
    cases.append({"name": "p - 1", "key": format(P - 1, "056x")})
    cases.append({"name": "p", "key": format(P, "056x")})
    cases.append({"name": "all ones", "key": "ff" * 28})
    cases.append({"name": "generator x", "key": "b70e0cbd6bb4bf7f321390b94a03c1d356c21122343280d6115c1d21"})
    h = b"pact-findmy curve vector"
    for i in range(24):
        h = hashlib.sha224(h).digest()
        cases.append({"name": "hash chain %d" % i, "key": h.hex()})
    for c in cases:
        c["on_curve"] = on_curve(int(c["key"], 16))
    write(outdir, "curve.json", {"description": "x-coordinate validity on P-224 (docs/findmy.md §4), decided with Euler's criterion by generate.py.", "cases": cases})


def write(outdir, name, doc):
    with open(os.path.join(outdir, name), "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    schedule(out)
    curve(out)
