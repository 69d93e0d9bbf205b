#!/usr/bin/env python3
"""Recomputes the vectors in this directory with an implementation that
shares no code with package findmy: Python's integers and the
`cryptography` package (python3-cryptography on Debian).

    python3 findmy/testdata/vectors/generate.py findmy/testdata/vectors

The Go tests read the JSON files and check package findmy against them.
"""
import datetime, hashlib, json, os, sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
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


def derive(d0, sk):
    """d_i from d_0 and one secret of the chain (docs/findmy.md §5.2, §5.3)."""
    uv = kdf(sk, b"diversify", 72)
    u = int.from_bytes(uv[:36], "big") % (N - 1) + 1
    v = int.from_bytes(uv[36:], "big") % (N - 1) + 1
    return (d0 * u + v) % N


def fixed_d0():
    return int.from_bytes(hashlib.sha224(b"pact-findmy schedule vector d0").digest(), "big") % (N - 1) + 1


SKS0 = hashlib.sha256(b"pact-findmy secondary vector SKS_0").digest()
LABEL = b"PACT findmy proof of possession v1"


def statement(key_x, kind, start, end, region):
    """The statement's bytes (docs/findmy.md §8.1)."""
    r = region.encode()
    return LABEL + bytes([0, kind]) + key_x.to_bytes(28, "big") + start.to_bytes(4, "big") + end.to_bytes(4, "big") + bytes([len(r)]) + r


def signing_scalar(d):
    """d or n - d, whichever has a point with even y (docs/findmy.md §8.2)."""
    return d if pub_x(d).y % 2 == 0 else N - d


def sign(d, msg):
    """Deterministic ECDSA (RFC 6979, SHA-256) with the signing scalar, s folded to the lower half."""
    k = ec.derive_private_key(signing_scalar(d), ec.SECP224R1())
    r, s = decode_dss_signature(k.sign(msg, ec.ECDSA(hashes.SHA256(), deterministic_signing=True)))
    if s > N // 2:
        s = N - s
    return r, s


def verify(key_x, r, s, msg):
    """Lifts x to the point with even y through OpenSSL's point decompression and verifies."""
    if not (1 <= r < N and 1 <= s <= N // 2):
        return "encoding"
    try:
        pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP224R1(), b"\x02" + key_x.to_bytes(28, "big"))
    except ValueError:
        return "statement"
    try:
        pub.verify(encode_dss_signature(r, s), msg, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return "invalid"
    return "ok"


def proofs(outdir):
    d0 = fixed_d0()
    sk0 = bytes.fromhex("93445416ec078a5bea5a04a66bceb5140194b0e94c889928f8ab3f4fe95588ba")
    cases = []
    sk = sk0
    for i in range(8):
        if i > 0:
            sk = kdf(sk, b"update", 32)
        di = derive(d0, sk)
        x = pub_x(di).x
        start = 29398500 + 15 * i
        region = "ch-zh" if i % 2 == 0 else "de"
        msg = statement(x, 0, start, start + 14, region)
        r, s = sign(di, msg)
        assert verify(x, r, s, msg) == "ok"
        cases.append({
            "name": "primary key %d" % i, "private_key": format(di, "056x"), "key": format(x, "056x"),
            "y_even": pub_x(di).y % 2 == 0, "kind": 0, "start": start, "end": start + 14, "region": region,
            "statement": msg.hex(), "digest": hashlib.sha256(msg).hexdigest(),
            "proof": format(r, "056x") + format(s, "056x"), "verify": "ok",
        })
    sks = SKS0
    for j in range(1, 3):
        sks = kdf(sks, b"update", 32)
        dj = derive(d0, sks)
        x = pub_x(dj).x
        msg = statement(x, 1, 29398560, 29398560 + 1439, "ch-zh")
        r, s = sign(dj, msg)
        assert verify(x, r, s, msg) == "ok"
        cases.append({
            "name": "secondary key %d" % j, "private_key": format(dj, "056x"), "key": format(x, "056x"),
            "y_even": pub_x(dj).y % 2 == 0, "kind": 1, "start": 29398560, "end": 29398560 + 1439, "region": "ch-zh",
            "statement": msg.hex(), "digest": hashlib.sha256(msg).hexdigest(),
            "proof": format(r, "056x") + format(s, "056x"), "verify": "ok",
        })
    # Refusals, each from the first valid case.
    base = cases[0]
    x = int(base["key"], 16)
    r, s = int(base["proof"][:56], 16), int(base["proof"][56:], 16)
    di = int(base["private_key"], 16)

    def bad(name, proof, start=base["start"], end=base["end"], kind=0, region=base["region"], key=x):
        msg = statement(key, kind, start, end, region)
        want = verify(key, int(proof[:56], 16), int(proof[56:], 16), msg)
        cases.append({"name": name, "key": format(key, "056x"), "kind": kind, "start": start, "end": end,
                      "region": region, "statement": msg.hex(), "digest": hashlib.sha256(msg).hexdigest(), "proof": proof, "verify": want})

    good = base["proof"]
    bad("another window", good, start=base["start"] + 1)
    bad("another end", good, end=base["end"] + 1)
    bad("another region", good, region="de")
    bad("another kind", good, kind=1)
    bad("high s", format(r, "056x") + format(N - s, "056x"))
    bad("r zero", "00" * 28 + format(s, "056x"))
    bad("r equals n", format(N, "056x") + format(s, "056x"))
    bad("s zero", format(r, "056x") + "00" * 28)
    # Signed with the scalar whose point has odd y: ECDSA-valid for (x, p - y'), not for the even-y lift.
    odd = N - signing_scalar(di)
    k = ec.derive_private_key(odd, ec.SECP224R1())
    r2, s2 = decode_dss_signature(k.sign(bytes.fromhex(base["statement"]), ec.ECDSA(hashes.SHA256(), deterministic_signing=True)))
    if s2 > N // 2:
        s2 = N - s2
    bad("signed by the odd-y scalar", format(r2, "056x") + format(s2, "056x"))
    # A key that is not on the curve.
    off = next(v for v in range(2, 1000) if not on_curve(v))
    bad("key off the curve", good, key=off)
    for c in cases:
        if c["verify"] != "ok" and c["name"] not in ("high s", "r zero", "r equals n", "s zero", "key off the curve"):
            assert c["verify"] == "invalid", c
    write(outdir, "proofs.json", {
        "description": "Proofs of possession (docs/findmy.md §8): deterministic ECDSA P-224 (RFC 6979, SHA-256) by the signing scalar, s folded to <= (n-1)/2, computed and verified by generate.py through the cryptography package. verify is ok, invalid (ErrProofInvalid), encoding (ErrProofEncoding) or statement (ErrStatement).",
        "cases": cases,
    })


def secondary(outdir):
    d0 = fixed_d0()
    keys = []
    sks = SKS0
    for j in range(0, 4):
        if j > 0:
            sks = kdf(sks, b"update", 32)
        dj = derive(d0, sks)
        pj = pub_x(dj)
        keys.append({"index": j, "secret": sks.hex(), "private_key": format(dj, "056x"), "advertised_key": format(pj.x, "056x")})
    rollovers = []
    for paired in ["2026-03-01T03:00:00+01:00", "2026-03-01T04:00:00+01:00", "2026-03-01T04:00:01+01:00",
                   "2026-03-01T23:59:00-07:00", "2026-12-31T05:30:00Z", "2026-06-15T12:00:00+05:45"]:
        p = datetime.datetime.fromisoformat(paired)
        r1 = p.replace(hour=4, minute=0, second=0, microsecond=0)
        if r1 < p:
            r1 = r1 + datetime.timedelta(days=1)
        windows = [{"index": 1, "from": p.isoformat(), "to": r1.isoformat()}]
        for j in range(2, 5):
            f = r1 + datetime.timedelta(days=j - 2)
            windows.append({"index": j, "from": f.isoformat(), "to": (f + datetime.timedelta(days=1)).isoformat()})
        at = []
        for probe in [p, r1 - datetime.timedelta(seconds=1), r1, r1 + datetime.timedelta(hours=23, minutes=59), r1 + datetime.timedelta(days=1), r1 + datetime.timedelta(days=20, hours=3)]:
            idx = 1 if probe < r1 else 2 + (probe - r1) // datetime.timedelta(days=1)
            at.append({"time": probe.isoformat(), "index": idx})
        rollovers.append({"paired": paired, "first_rollover": r1.isoformat(), "windows": windows, "index_at": at})
    write(outdir, "secondary.json", {
        "description": "Secondary keys (docs/findmy.md §9): SKS_j chain and d_j = d_0*u + v from SKS_j for the private_key0 of schedule.json, and the daily 04:00 local rollover, computed by generate.py.",
        "secondary_secret0": SKS0.hex(),
        "private_key0": format(d0, "056x"),
        "keys": keys,
        "rollovers": rollovers,
    })


def write(outdir, name, doc):
    with open(os.path.join(outdir, name), "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    schedule(out)
    curve(out)
    proofs(out)
    secondary(out)
