"""The [dnssec] settings and `sign = true`: what the zone policy carries to the writers."""

from __future__ import annotations

from pathlib import Path

import pytest

from dnsbackend.settings import SettingsError, load_settings, policy_from_settings
from dnsbackend.update.policy import ZonePolicy


def _policy(tmp_path: Path, text: str) -> ZonePolicy:
    config = tmp_path / "dnsbackend.toml"
    config.write_text(text)
    return policy_from_settings(load_settings(str(config), {}), str(tmp_path))


def test_a_signed_zone_takes_the_dnssec_defaults_and_survives_packing(tmp_path: Path) -> None:
    policy = _policy(tmp_path, '[dnssec]\ndenial = "nsec3"\nsignature_lifetime = "2w"\n'
                     '[zone."a.test"]\nsign = true\n[zone."b.test"]\n')
    again = ZonePolicy.unpack(policy.pack())
    signing = {w.origin: w.signing for w in again.explicit.values()}
    assert signing == {"a.test.": ("ecdsap256sha256", "nsec3", 14 * 86400), "b.test.": None}


@pytest.mark.parametrize(("text", "key"), [
    ('[dnssec]\nalgorithm = "rsasha1"\n', "dnssec.algorithm"),
    ('[dnssec]\ndenial = "nsec5"\n', "dnssec.denial"),
    ('[dnssec]\nsignature_lifetime = "14 days"\n', "dnssec.signature_lifetime"),
    ('[dnssec]\nsignature_lifetime = "1h"\n', "dnssec.signature_lifetime"),
    ('[zone."a.test"]\nsign = "yes"\n', "zone.a.test.sign"),
])
def test_a_bad_setting_names_its_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(SettingsError, match=f"setting '{key}'"):
        _policy(tmp_path, text)
