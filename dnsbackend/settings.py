"""Settings: defaults, then the TOML file, then command-line flags; validated by pydantic.

Also what they become for the layers below: the zone policy and the served settings.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import ipaddress
import os
import tomllib
from typing import Any, Literal

import dns.exception
import dns.name
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .query.edns import nsid_option
from .store.format import DEFAULT_UDP_PAYLOAD, CookieSettings, RateLimits, ServedSettings
from .transfer.tsig import DEFAULT_ALGORITHM, TsigKey
from .update.policy import WantedZone, ZonePolicy
from .zone.files import origin_key

DEFAULT_CONFIG = "dnsbackend.toml"

# Settings that only take effect when the server starts (the rest change live).
RESTART_ONLY = ("listen", "port", "workers", "data", "metrics", "query_log",
                "tcp_idle_timeout", "tcp_max_connections", "debounce_ms")


class SettingsError(Exception):
    """A setting is wrong; the message names the key."""


class TransferPeer(BaseModel):
    """A transfer ACL entry or a NOTIFY target: an address (or prefix, for ACLs), and the
    TSIG key (by name, from [key]) that a transfer request must be signed with (an entry
    without one takes signed and unsigned requests) or that a NOTIFY is signed with."""

    model_config = ConfigDict(extra="forbid", strict=True)

    address: str
    port: int = Field(53, ge=1, le=65535)  # for NOTIFY targets
    key: str | None = None

    @field_validator("address")
    @classmethod
    def _an_address(cls, value: str) -> str:
        return _prefix(value)


def _prefix(value: str) -> str:
    """`value` if it is an IP address or prefix, else ValueError saying so."""
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"not an IP address or prefix: {value!r}") from None
    return value


class KeyOptions(BaseModel):
    """`[key.NAME]`: a TSIG key (RFC 8945), named as its users name it (BIND's algorithm
    names). The secret is never printed: not in a repr, not in an error message."""

    model_config = ConfigDict(extra="forbid", strict=True)

    algorithm: Literal["hmac-sha256", "hmac-sha224", "hmac-sha384", "hmac-sha512",
                       "hmac-sha1", "hmac-md5"] = DEFAULT_ALGORITHM
    secret: str = Field(repr=False)

    @field_validator("secret")
    @classmethod
    def _base64(cls, value: str) -> str:
        try:
            decoded = base64.b64decode("".join(value.split()), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("not valid base64") from None
        if not decoded:
            raise ValueError("empty")
        return value

    def secret_bytes(self) -> bytes:
        return base64.b64decode("".join(self.secret.split()), validate=True)


class TransferOptions(BaseModel):
    """`[transfer]`: who may transfer every zone (nobody by default), whom to NOTIFY."""

    model_config = ConfigDict(extra="forbid", strict=True)

    allow: list[TransferPeer] = Field(default_factory=list)
    notify: list[TransferPeer] = Field(default_factory=list)


class RateLimitOptions(BaseModel):
    """`[rrl]`: response rate limiting (BIND's, NSD's and Knot's model); off by default."""

    model_config = ConfigDict(extra="forbid", strict=True)

    # per client prefix and kind of answer; 0: off
    responses_per_second: int = Field(default=0, ge=0, le=1_000_000)
    slip: int = Field(default=2, ge=0, le=10)  # every Nth limited answer is sent truncated
    window: int = Field(default=15, ge=1, le=3600)  # seconds a client's rate is measured over
    size: int = Field(default=1_000_000, ge=1, le=100_000_000)  # table entries (rrl-size)
    exempt: list[str] = Field(default_factory=list)  # prefixes never limited

    @field_validator("exempt")
    @classmethod
    def _prefixes(cls, value: list[str]) -> list[str]:
        return [_prefix(item) for item in value]


def _txt_string(value: str | None) -> str | None:
    """An identity or version: one TXT character-string (at most 255 bytes)."""
    if value is not None and len(value.encode()) > 255:
        raise ValueError("at most 255 bytes (one TXT string)")
    return value


def nsid_bytes(value: str) -> bytes:
    """The NSID of the setting: "0x" and hex digits (as Knot takes it), else the text."""
    if value[:2].lower() == "0x":
        return bytes.fromhex(value[2:])
    return value.encode()


class CatalogOptions(BaseModel):
    """`[catalog]`: serve an RFC 9432 catalog zone of the served zones (update.catalogzone)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    zone: str | None = None  # its name; None: no catalog zone


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def duration_seconds(value: str) -> int:
    """"14d", "36h", "2w", "3600" (seconds): a duration in seconds; ValueError if not one."""
    text = value.strip().lower()
    unit = DURATION_UNITS.get(text[-1:], 0)
    number = text[:-1] if unit else text
    if not number.isdigit() or int(number) == 0:
        raise ValueError(f"not a duration such as '14d', '36h' or '3600': {value!r}")
    return int(number) * (unit or 1)


class DnssecOptions(BaseModel):
    """`[dnssec]`: how zones with `sign = true` are signed (dnsbackend.sign)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    algorithm: Literal["ecdsap256sha256", "ed25519"] = "ecdsap256sha256"
    # "nsec3": RFC 9276's defaults (0 extra iterations, empty salt, no opt-out)
    denial: Literal["nsec", "nsec3"] = "nsec"
    signature_lifetime: str = "14d"  # how long each signature is valid (refreshed before)

    @field_validator("signature_lifetime")
    @classmethod
    def _a_duration(cls, value: str) -> str:
        if duration_seconds(value) < 3 * 3600:
            raise ValueError("at least 3h: signatures are backdated 1h and refreshed early")
        return value


class ZoneOptions(BaseModel):
    """Per-zone entries of the zone policy (`[zone."example.com"]` in the TOML file)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    file: str | None = None  # defaults to <zones>/<origin>.zone
    enabled: bool = True
    serial: Literal["auto", "strict"] | None = None  # None: the global `serial`
    journal_depth: int | None = Field(None, ge=0)  # None: the global setting
    journal_size: int | None = Field(None, ge=0)
    allow_transfer: list[TransferPeer] | None = None  # replaces [transfer].allow
    notify: list[TransferPeer] | None = None  # replaces [transfer].notify
    sign: bool = False  # sign the zone ([dnssec]); its keys are kept in the data directory


class Settings(BaseModel):
    """Everything the server can be told."""

    # Strict: a TOML value of the wrong type is an error, never converted (true is not port
    # 1, "53" is not a number); infinite and NaN floats are errors too.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    zones: str = "zones"  # directory of <origin>.zone files
    data: str = "var/db"  # directory of the LMDB store
    listen: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"], min_length=1)
    port: int = Field(53, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64)
    # EDNS payload size we advertise; at most 4096 like BIND's max-udp-size (a UDP answer
    # near 64 KB would exceed what one datagram can carry and be lost, not truncated)
    udp_payload: int = Field(DEFAULT_UDP_PAYLOAD, ge=512, le=4096)
    tcp_idle_timeout: float = Field(10.0, gt=0)  # seconds a quiet TCP connection is kept
    tcp_max_connections: int = Field(256, ge=1)
    debounce_ms: int = Field(50, ge=0, le=10_000)  # quiet time before a changed file is read
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_file: str | None = None  # append the log here instead of stderr (logrotate-safe)
    discover: bool = True  # serve every <origin>.zone file found in the zones directory
    # A changed zone whose SOA serial did not go up: "auto" serves it with the next serial
    # after the one served, "strict" rejects it (the last good version keeps serving).
    serial: Literal["auto", "strict"] = "auto"
    journal_depth: int = Field(20, ge=0)  # changesets kept per zone (for IXFR); 0: none
    journal_size: int = Field(100 << 20, ge=0)  # bytes of changesets kept per zone
    zone: dict[str, ZoneOptions] = Field(default_factory=dict)
    transfer: TransferOptions = Field(default_factory=TransferOptions)
    key: dict[str, KeyOptions] = Field(default_factory=dict)  # TSIG keys, by name
    catalog: CatalogOptions = Field(default_factory=CatalogOptions)
    metrics: str | None = None  # "address:port" of the Prometheus endpoint; None: off
    query_log: str | None = None  # a file to append a line per query to ("-": stdout)
    dnssec: DnssecOptions = Field(default_factory=DnssecOptions)

    # Identification (NSD's words): NSID (RFC 5001) sent to queries asking for it; the TXT
    # of id.server and hostname.bind, and of version.server and version.bind, in class CH.
    # None: no NSID; those names REFUSED (NSD's hide-identity, hide-version).
    nsid: str | None = None
    identity: str | None = None
    version: str | None = None
    # DNS Cookies (RFC 7873, server cookies of RFC 9018): answered (BIND's and NSD's
    # answer-cookie); the SipHash-2-4 secret as 32 hex digits, shared by servers that
    # should accept each other's cookies (none: a random one, changed every
    # cookie_secret_lifetime seconds as Knot does); BADCOOKIE to UDP queries without a
    # valid server cookie only with require_server_cookie (BIND's name).
    answer_cookie: bool = True
    cookie_secret: str | None = Field(None, repr=False)
    cookie_secret_lifetime: int = Field(26 * 3600, ge=3600, le=36 * 24 * 3600)
    require_server_cookie: bool = False
    rrl: RateLimitOptions = Field(default_factory=RateLimitOptions)

    @field_validator("metrics")
    @classmethod
    def _an_endpoint(cls, value: str | None) -> str | None:
        if value is not None:
            metrics_endpoint(value)
        return value

    @field_validator("identity", "version")
    @classmethod
    def _txt(cls, value: str | None) -> str | None:
        return _txt_string(value)

    @field_validator("nsid")
    @classmethod
    def _nsid(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            data = nsid_bytes(value)
        except ValueError:
            raise ValueError("not hex digits after 0x") from None
        if not data:
            raise ValueError("empty")
        if len(data) > 512:
            raise ValueError("at most 512 bytes")
        return value

    @field_validator("cookie_secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            secret = bytes.fromhex(value)
        except ValueError:
            raise ValueError("not hex digits") from None
        if len(secret) != 16:
            raise ValueError("must be 16 bytes (32 hex digits)")
        return value


def metrics_endpoint(value: str) -> tuple[str, int]:
    """(address, port) of a `metrics` setting: "127.0.0.1:9153", "[::1]:9153"."""
    host, colon, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"an IPv6 address goes in brackets: [{host}]:{port}")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"not ADDRESS:PORT with an IP address: {value!r}") from None
    if not colon or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"not ADDRESS:PORT with a port from 1 to 65535: {value!r}")
    return host, int(port)


def describe_errors(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"{source}: setting '{key}': {err['msg']}")
    return "\n".join(lines)


def read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None


def load_settings(config: str | None, overrides: dict[str, Any]) -> Settings:
    """Build settings from an optional TOML file and flag overrides (flags win)."""
    values: dict[str, Any] = {}
    source = "flags"
    if config is None and os.path.exists(DEFAULT_CONFIG):
        config = DEFAULT_CONFIG
    if config is not None:
        values = read_toml(config)
        source = config
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        raise SettingsError(describe_errors(exc, source)) from None
    errors = key_errors(settings)
    if errors:
        raise SettingsError("\n".join(f"{source}: {line}" for line in errors))
    return settings


def _key_name(name: str) -> bytes | None:
    """A key name's lower-case wire form; None if it is no domain name."""
    try:
        wire = dns.name.from_text(name).to_wire()
    except dns.exception.DNSException:
        return None
    assert wire is not None
    return wire.lower()


def _peer_lists(settings: Settings) -> list[tuple[str, list[TransferPeer]]]:
    """Every list of transfer ACL entries and NOTIFY targets, with its setting's name."""
    lists = [("transfer.allow", settings.transfer.allow),
             ("transfer.notify", settings.transfer.notify)]
    for name, options in settings.zone.items():
        if options.allow_transfer is not None:
            lists.append((f"zone.{name}.allow_transfer", options.allow_transfer))
        if options.notify is not None:
            lists.append((f"zone.{name}.notify", options.notify))
    return lists


def key_errors(settings: Settings) -> list[str]:
    """What is wrong with the key names and references, each line naming its setting: a key
    name that is no domain name, two keys of one name, a key used that does not exist."""
    errors = []
    names: dict[bytes, str] = {}
    for name in settings.key:
        wire = _key_name(name)
        if wire is None:
            errors.append(f"setting 'key.{name}': not a domain name")
        elif wire in names:
            errors.append(f"setting 'key.{name}': the same key name as 'key.{names[wire]}'")
        else:
            names[wire] = name
    for where, peers in _peer_lists(settings):
        for index, peer in enumerate(peers):
            if peer.key is not None and _key_name(peer.key) not in names:
                errors.append(f"setting '{where}.{index}.key': no key '{peer.key}'")
    return errors


def tsig_keys(settings: Settings) -> dict[bytes, TsigKey]:
    """The keys of validated settings, by lower-case wire name."""
    keys = {}
    for name, options in settings.key.items():
        wire = _key_name(name)
        assert wire is not None
        keys[wire] = TsigKey(wire, options.algorithm, options.secret_bytes())
    return keys


def _entry_key(peer: TransferPeer) -> bytes:
    return b"" if peer.key is None else _key_name(peer.key) or b""


def policy_from_settings(settings: Settings, base_dir: str,
                         served_catalog: str | None = None) -> ZonePolicy:
    """The zone policy of validated settings; relative paths are taken from `base_dir`.
    `served_catalog`: the catalog zone's name in force (a zone file of that name is then
    the file's error, not the settings')."""
    zones_dir = os.path.realpath(os.path.join(base_dir, settings.zones))
    catalog = catalog_origin(settings, zones_dir, served_catalog)
    explicit: dict[bytes, WantedZone] = {}
    for name, options in settings.zone.items():
        try:
            origin = dns.name.from_text(name)
        except dns.exception.DNSException as exc:
            raise SettingsError(f"setting 'zone.{name}': not a domain name: {exc}") from None
        if catalog is not None and origin == catalog:
            continue  # the catalog zone's own table: its ACL, NOTIFY targets and journal
        path = options.file or os.path.join(zones_dir, origin.to_text() + "zone")
        path = os.path.realpath(os.path.join(zones_dir, path))
        explicit[origin_key(origin)] = WantedZone(
            origin.to_text(), path, options.enabled, options.serial, options.journal_depth,
            options.journal_size, _signing(settings) if options.sign else None)
    return ZonePolicy(zones_dir, settings.discover, explicit, settings.serial,
                      settings.journal_depth, settings.journal_size,
                      "" if catalog is None else catalog.to_text(),
                      b"" if catalog is None else origin_key(catalog))


def _signing(settings: Settings) -> tuple[str, str, int]:
    """A signed zone's (algorithm, denial, signature lifetime in seconds) under [dnssec]."""
    dnssec = settings.dnssec
    return (dnssec.algorithm, dnssec.denial, duration_seconds(dnssec.signature_lifetime))


def catalog_origin(settings: Settings, zones_dir: str,
                   served: str | None = None) -> dns.name.Name | None:
    """The catalog zone's name (None: none), refused when a zone file would serve it too: a
    `file` in its `[zone]` table, or (unless it is the name `served` now) its
    `<origin>.zone` file in the zones directory."""
    name = settings.catalog.zone
    if name is None:
        return None
    try:
        origin = dns.name.from_text(name)
    except dns.exception.DNSException as exc:
        raise SettingsError(f"setting 'catalog.zone': not a domain name: {exc}") from None
    for table, options in settings.zone.items():
        with contextlib.suppress(dns.exception.DNSException):
            if dns.name.from_text(table) == origin and options.file is not None:
                raise SettingsError(
                    f"setting 'catalog.zone': {origin} is the catalog zone, made from the "
                    f"served zones; 'zone.{table}.file' would serve it from a file too")
    path = os.path.join(zones_dir, origin.to_text() + "zone")
    if settings.discover and os.path.exists(path) and name != served:
        raise SettingsError(f"setting 'catalog.zone': {origin} has a zone file, "
                            f"{path}; the catalog zone needs a name of its own")
    return origin


def served_settings(settings: Settings) -> ServedSettings:
    """The settings every serving process answers by (stored for all workers)."""
    transfer = {b"": tuple((p.address, _entry_key(p)) for p in settings.transfer.allow)}
    for name, options in settings.zone.items():
        if options.allow_transfer is not None:
            transfer[origin_key(dns.name.from_text(name))] = tuple(
                (p.address, _entry_key(p)) for p in options.allow_transfer)
    keys = {wire: (key.algorithm, key.secret) for wire, key in tsig_keys(settings).items()}
    rrl = settings.rrl
    return ServedSettings(
        settings.udp_payload, transfer, keys,
        b"" if settings.nsid is None else nsid_option(nsid_bytes(settings.nsid)),
        _txt_rdata(settings.identity), _txt_rdata(settings.version), _cookies(settings),
        RateLimits(rrl.responses_per_second, rrl.slip, rrl.window, rrl.size,
                   tuple(rrl.exempt)))


def _txt_rdata(text: str | None) -> bytes | None:
    if text is None:
        return None
    data = text.encode()
    return bytes([len(data)]) + data


# The cookie secret when none is configured: made once per serving process (which stores
# it for its workers), so that server cookies stay good across settings changes.
_RANDOM_COOKIE_SECRET = os.urandom(16)


def _cookies(settings: Settings) -> CookieSettings:
    if settings.cookie_secret is not None:  # fixed, as NSD, BIND and Knot use one set
        return CookieSettings(settings.answer_cookie, bytes.fromhex(settings.cookie_secret),
                              0, settings.require_server_cookie)
    return CookieSettings(settings.answer_cookie, _RANDOM_COOKIE_SECRET,
                          settings.cookie_secret_lifetime, settings.require_server_cookie)


def notify_targets(settings: Settings, origin: str) -> list[tuple[str, int, TsigKey | None]]:
    """Whom to NOTIFY of a zone's new serial, and with which key: the zone's own list, else
    [transfer].notify."""
    key = origin_key(dns.name.from_text(origin))
    peers = settings.transfer.notify
    for name, options in settings.zone.items():
        if options.notify is not None and origin_key(dns.name.from_text(name)) == key:
            peers = options.notify
            break
    keys = tsig_keys(settings)
    return [(p.address, p.port, None if p.key is None else keys[_entry_key(p)])
            for p in peers]
