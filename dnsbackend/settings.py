"""Settings: defaults, then the TOML file, then command-line flags; validated by pydantic."""

from __future__ import annotations

import os
import tomllib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_CONFIG = "dnsbackend.toml"

# Settings that only take effect when the server starts (the rest change live).
RESTART_ONLY = ("listen", "port", "workers", "data", "zones")


class SettingsError(Exception):
    """A setting is wrong; the message names the key."""


class ZoneOptions(BaseModel):
    """Per-zone entries of the catalogue (`[zone."example.com"]` in the TOML file)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    file: str | None = None  # defaults to <zones>/<origin>.zone
    enabled: bool = True


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
    udp_payload: int = Field(1232, ge=512, le=4096)
    tcp_idle_timeout: float = Field(10.0, gt=0)  # seconds a quiet TCP connection is kept
    tcp_max_connections: int = Field(256, ge=1)
    debounce_ms: int = Field(50, ge=0, le=10_000)  # quiet time before a changed file is read
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    discover: bool = True  # serve every <origin>.zone file found in the zones directory
    zone: dict[str, ZoneOptions] = Field(default_factory=dict)


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
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise SettingsError(describe_errors(exc, source)) from None
