"""Signed zones for tests: plain zone texts signed by BIND's dnssec-keygen and dnssec-signzone.

`sign(text, origin, workdir, denial)` writes the text, makes a KSK and a ZSK (ECDSA P-256:
the default of BIND's and Knot's policies) and returns the path of the signed file, with
NSEC, NSEC3 (0 iterations, empty salt, RFC 9276), NSEC3 with opt-out, or NSEC3 with a salt
and 5 extra iterations (as older zones have). Signatures are valid from an hour ago for 30
days, so a test run never meets an expired one.

`RFC4035_ZONE`: the example zone of RFC 4035 Appendix A, unsigned (the test re-signs it:
its printed signatures expired in 2004).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Final

import dns.dnssec
import dns.rdataclass
import dns.rdatatype
import dns.zone

from testkit import programs

NSEC: Final = "nsec"
NSEC3: Final = "nsec3"
NSEC3_OPTOUT: Final = "nsec3-optout"
# As zones signed before RFC 9276 often are: a salt and extra iterations
NSEC3_SALTED: Final = "nsec3-salted"
SALT: Final = "5CA1AB1E"
ITERATIONS: Final = 5


def missing() -> str | None:
    """Why zones cannot be signed here (a program is missing), or None."""
    for name in ("dnssec-keygen", "dnssec-signzone"):
        if programs.find(name) is None:
            return f"{name} is not installed (Debian package bind9-utils)"
    return None


def sign(text: str, origin: str, workdir: Path, denial: str = NSEC,
         algorithm: str = "ECDSAP256SHA256") -> Path:
    """Sign zone text for `origin` (absolute, with the dot); the signed file's path."""
    workdir.mkdir(parents=True, exist_ok=True)
    keys = workdir / "keys"
    keys.mkdir(exist_ok=True)
    plain = workdir / f"{origin}plain"
    plain.write_text(text)
    for extra in (["-f", "KSK"], []):
        subprocess.run(["dnssec-keygen", "-q", "-a", algorithm, *extra, "-K", str(keys),
                        origin], check=True, capture_output=True)
    signed = workdir / f"{origin}zone"
    denial_args = {NSEC: [], NSEC3: ["-3", "-", "-H", "0"],
                   NSEC3_OPTOUT: ["-3", "-", "-H", "0", "-A"],
                   NSEC3_SALTED: ["-3", SALT, "-H", str(ITERATIONS)]}[denial]
    subprocess.run(["dnssec-signzone", "-q", "-S", "-K", str(keys), "-o", origin, "-N", "keep",
                    "-s", "now-3600", "-e", "now+2592000", *denial_args, "-f", str(signed),
                    str(plain)], check=True, capture_output=True, cwd=workdir)
    return signed


def with_collisions(signed: str, origin: str, names: list[str]) -> str:
    """A zone signed with NSEC3 (0 iterations, no salt), plus an NSEC3 record (and an RRSIG,
    copied from another) at the hash of each of `names`, names the zone does not have: to
    the server those hashes collide with names of the zone (RFC 5155 section 7.2.9), as
    if another name hashed to each."""
    zone = dns.zone.from_text(signed, origin=origin, relativize=False)
    for owner, node in zone.nodes.items():
        nsec3 = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NSEC3)
        if nsec3:
            sig = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.RRSIG,
                                    dns.rdatatype.NSEC3)
            assert sig is not None, f"{owner} has no RRSIG for its NSEC3"
            break
    else:
        raise ValueError("the zone has no NSEC3 record")
    lines = []
    for name in names:
        hashed = f"{dns.dnssec.nsec3_hash(name, None, 0, 1).lower()}.{origin}"
        lines.append(f"{hashed} {nsec3.ttl} IN NSEC3 {nsec3[0].to_text()}\n")
        lines.append(f"{hashed} {nsec3.ttl} IN RRSIG {sig[0].to_text()}\n")
    return signed + "".join(lines)


# RFC 4035 Appendix A, without its signatures, NSEC records and keys (the signer makes
# them); the DS of the secure delegation a.example is the one printed there.
RFC4035_ZONE: Final = """\
$ORIGIN example.
$TTL 3600
@       SOA ns1.example. bugs.x.w.example. 1081539377 3600 300 3600000 3600
        NS  ns1.example.
        NS  ns2.example.
        MX  1 xx.example.
a       NS  ns1.a.example.
        NS  ns2.a.example.
        DS  57855 5 1 B6DCD485719ADCA18E5F3D48A2331627FDD3636B
ns1.a   A   192.0.2.5
ns2.a   A   192.0.2.6
ai      A   192.0.2.9
        HINFO "KLH-10" "ITS"
        AAAA 2001:db8::f00:baa9
b       NS  ns1.b.example.
        NS  ns2.b.example.
ns1.b   A   192.0.2.7
ns2.b   A   192.0.2.8
ns1     A   192.0.2.1
ns2     A   192.0.2.2
*.w     MX  1 ai.example.
x.w     MX  1 xx.example.
x.y.w   MX  1 xx.example.
xx      A   192.0.2.10
        HINFO "KLH-10" "TOPS-20"
        AAAA 2001:db8::f00:baaa
"""

# A zone with every case a signed answer has to prove, for the differential tests.
CASES_ZONE: Final = """\
$ORIGIN signed.test.
$TTL 3600
@         SOA ns1 hostmaster 2026120101 7200 900 1209600 300
@         NS  ns1
@         NS  ns2
@         MX  10 mail
@         A   192.0.2.1
ns1       A   192.0.2.53
ns1       AAAA 2001:db8::53
ns2       A   192.0.2.54
mail      A   192.0.2.25
mail      AAAA 2001:db8::25
www       CNAME host
host      A   192.0.2.80
host      TXT "host"
chain     CNAME www
towild    CNAME x.wild
tonothing CNAME nothing
out       CNAME www.example.org.
*.wild    A   192.0.2.99
*.wild    MX  10 mail
real.wild TXT "real"
*.cname   CNAME host
deep.a.b.c TXT "below empty non-terminals"
old       DNAME example.net.
inzone    DNAME sub
x.sub     A   192.0.2.70
secure    NS  ns1.secure
secure    NS  ns.example.org.
secure    DS  12345 13 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE0F0A4D3B1D4E4B5A4B3C2D1E
ns1.secure A  192.0.2.200
insecure  NS  ns1.insecure
ns1.insecure A 192.0.2.201
ttl 60    A   192.0.2.60
""" + "".join(f'fat TXT "{"padding-" * 4}{i}"\n' for i in range(12)) + "".join(
    # about 1,160 bytes of answer: fits 1232 unsigned, not with its RRSIG (TC)
    f'big TXT "{"padding-" * 5}{i:02}"\n' for i in range(21))
