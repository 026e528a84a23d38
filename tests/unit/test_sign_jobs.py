"""Signing in the write path: a zone with sign = true is stored signed on its first load, and
a save re-signs only what changed (and the neighbours' NSEC), equal to a signing from scratch."""

from __future__ import annotations

import os
import time
from pathlib import Path

import dns.name
import dns.rdatatype
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnsbackend.sign.keys import zone_keys
from dnsbackend.sign.signer import SignPolicy, sign_nodes, verify_nodes
from dnsbackend.store.database import open_shared
from dnsbackend.store.format import Node, ServedSettings
from dnsbackend.store.transaction import read_version
from dnsbackend.update.jobs import load_zone_job, sync_policy_job
from dnsbackend.update.outcome import Action
from dnsbackend.update.policy import WantedZone, ZonePolicy
from dnsbackend.wire.codes import NSEC, NSEC3, RRSIG, SOA
from dnsbackend.zone.build import build_zone
from dnsbackend.zone.files import origin_key

ORIGIN = "signed.test."
KEY = origin_key(dns.name.from_text(ORIGIN))
APEX = KEY
LIFETIME = 14 * 86400


def zone_text(serial: int, hosts: dict[str, int], cuts: frozenset[str] = frozenset()) -> str:
    lines = [f"$TTL 300\n@ SOA ns hostmaster {serial} 3600 600 86400 60\n@ NS ns\n"
             "ns A 192.0.2.53\nsub NS ns.sub\nns.sub A 192.0.2.54\n"]
    lines += [f"{name} {ttl} A 192.0.2.1\n" for name, ttl in sorted(hosts.items())]
    lines += [f"{name} NS ns.example.net.\n" for name in sorted(cuts)]
    return "".join(lines)


class SignedZone:
    """One signed zone in a fresh store, written through the production jobs."""

    def __init__(self, root: Path, denial: str) -> None:
        zones = root / "zones"
        zones.mkdir()
        self.data = str(root / "db")
        self.path = zones / f"{ORIGIN}zone"
        self.signing = ("ecdsap256sha256", denial, LIFETIME)
        self.policy = ZonePolicy(os.path.realpath(zones), True, {
            KEY: WantedZone(ORIGIN, os.path.realpath(self.path), signing=self.signing)})

    def save(self, text: str) -> Action:
        before = os.stat(self.path).st_ctime_ns if self.path.exists() else 0
        while True:
            self.path.write_text(text)
            if os.stat(self.path).st_ctime_ns > before:
                break
            time.sleep(0.005)
        if not before:
            outcomes = sync_policy_job(self.data, self.policy.pack(), ServedSettings().pack())
        else:
            outcomes, _ = load_zone_job(self.data, self.policy.zones_dir, ORIGIN,
                                        str(self.path))
        assert outcomes[0].action is not Action.FAILED, outcomes[0].error
        return outcomes[0].action

    def nodes(self) -> dict[bytes, Node]:
        store = open_shared(self.data)
        entry = store.entries()[KEY]
        with store.zones_env.begin() as rtxn:
            return dict(read_version(rtxn, entry.zone_id, entry.version))

    def from_scratch(self) -> dict[bytes, Node]:
        origin = dns.name.from_text(ORIGIN)
        meta = build_zone(str(self.path), origin, str(self.path.parent)).contents.meta
        served = self.nodes()
        plain = {o: {t: v for t, v in n.items() if t not in (RRSIG, NSEC)}
                 for o, n in served.items() if NSEC3 not in n}
        plain[APEX][SOA] = served[APEX][SOA]
        keys = zone_keys(self.data, origin, "ecdsap256sha256")
        nodes, _ = sign_nodes(plain, APEX, meta.soa_ttl, meta.negative_ttl, keys,
                              SignPolicy(denial=self.signing[1]), int(time.time()))
        return nodes


def _unsigned_part(nodes: dict[bytes, Node]) -> dict[bytes, Node]:
    """The nodes less the signatures' values: the chain and what each RRSIG covers."""
    out: dict[bytes, Node] = {}
    for owner, node in nodes.items():
        kept: Node = {t: v for t, v in node.items() if t != RRSIG}
        if RRSIG in node:
            covered = tuple(sorted(int.from_bytes(s[:2], "big") for s in node[RRSIG][1]))
            kept[RRSIG] = (0, tuple(c.to_bytes(2, "big") for c in covered))
        out[owner] = kept
    return out


def _assert_valid(zone: SignedZone) -> dict[bytes, Node]:
    nodes = zone.nodes()
    keys = zone_keys(zone.data, dns.name.from_text(ORIGIN), "ecdsap256sha256")
    assert verify_nodes(nodes, APEX, keys, int(time.time())) == []
    assert _unsigned_part(nodes) == _unsigned_part(zone.from_scratch())
    return nodes


@pytest.mark.parametrize("denial", ["nsec", "nsec3"])
def test_first_load_is_signed_and_an_edit_re_signs_only_its_neighbourhood(
        tmp_path: Path, denial: str) -> None:
    zone = SignedZone(tmp_path, denial)
    hosts = {f"h{i}": 300 for i in range(20)}
    assert zone.save(zone_text(1, hosts)) is Action.LOADED
    first = _assert_valid(zone)
    hosts["h10a"] = 300
    assert zone.save(zone_text(2, hosts)) is Action.LOADED
    second = _assert_valid(zone)
    changed = {o for o in second if first.get(o) != second.get(o)} | (first.keys() - second.keys())
    # the new name, the apex (SOA), and the NSEC predecessor (or two NSEC3 owners, new + prev)
    assert len(changed) <= 4
    unchanged = [o for o in first if o in second and o not in changed]
    assert unchanged and all(first[o][RRSIG] == second[o][RRSIG]
                             for o in unchanged if RRSIG in first[o])


def test_a_ttl_change_is_signed_again(tmp_path: Path) -> None:
    zone = SignedZone(tmp_path, "nsec")
    zone.save(zone_text(1, {"www": 300}))
    owner = origin_key(dns.name.from_text("www." + ORIGIN))
    before = zone.nodes()[owner][RRSIG]
    zone.save(zone_text(2, {"www": 600}))
    after = zone.nodes()[owner][RRSIG]
    assert before != after
    _assert_valid(zone)


def test_the_serial_policy_bumps_a_signed_zone_and_signs_the_new_soa(tmp_path: Path) -> None:
    zone = SignedZone(tmp_path, "nsec")
    zone.save(zone_text(5, {"www": 300}))
    zone.save(zone_text(5, {"www": 300, "new": 300}))  # the serial was not raised
    assert open_shared(zone.data).entries()[KEY].serial == 6
    _assert_valid(zone)


_EDITS = st.lists(st.tuples(st.sampled_from(["add", "remove", "ttl", "cut", "glue"]),
                            st.sampled_from([f"n{i}" for i in range(12)] + ["a.b", "x.a.b"])),
                  min_size=1, max_size=6)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(edits=_EDITS, denial=st.sampled_from(["nsec", "nsec3"]))
def test_random_edits_equal_a_signing_from_scratch(tmp_path_factory: pytest.TempPathFactory,
                                                   edits: list[tuple[str, str]],
                                                   denial: str) -> None:
    zone = SignedZone(tmp_path_factory.mktemp("edits"), denial)
    hosts = {f"n{i}": 300 for i in range(0, 12, 2)}
    cuts: frozenset[str] = frozenset()
    serial = 1
    zone.save(zone_text(serial, hosts))
    for action, name in edits:
        if action == "add":
            hosts[name] = 300
        elif action == "remove":
            hosts.pop(name, None)
        elif action == "cut":  # a delegation comes or goes: what is below it changes kind
            cuts = cuts ^ {name}
        elif action == "glue":  # an address below the delegation sub.
            hosts[f"{name}.sub"] = hosts.get(f"{name}.sub", 300) + 1
        else:
            hosts[name] = hosts.get(name, 300) + 60
        serial += 1
        zone.save(zone_text(serial, hosts, cuts))
        _assert_valid(zone)


def test_dnsbackend_ds_prints_the_ds_of_the_published_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dnsbackend.cli import main
    from dnsbackend.sign.keys import ds_text

    zone = SignedZone(tmp_path, "nsec")
    zone.save(zone_text(1, {"www": 300}))
    key = zone_keys(zone.data, dns.name.from_text(ORIGIN), "ecdsap256sha256")[0]
    open_shared(zone.data).close()  # the command opens the store itself
    assert main(["ds", ORIGIN, "--data", zone.data]) == 0
    assert capsys.readouterr().out == ds_text(dns.name.from_text(ORIGIN), key.dnskey, 300) + "\n"
    assert main(["ds", "other.test.", "--data", zone.data]) == 1
    assert "not in the store" in capsys.readouterr().err


def test_a_new_writer_reads_the_served_version_and_keeps_its_key_and_signatures(
        tmp_path: Path) -> None:
    from dnsbackend.update import jobs, signing

    zone = SignedZone(tmp_path, "nsec")
    zone.save(zone_text(1, {f"h{i}": 300 for i in range(10)}))
    first = zone.nodes()
    jobs._recent.clear()  # what a writer process started afresh (or a restart) knows
    signing._signed.clear()
    zone.save(zone_text(2, {f"h{i}": 300 for i in range(11)}))
    second = _assert_valid(zone)
    assert second[APEX][dns.rdatatype.DNSKEY] == first[APEX][dns.rdatatype.DNSKEY]
    www = origin_key(dns.name.from_text("h3." + ORIGIN))
    assert second[www] == first[www]


def test_the_refresh_job_re_signs_what_is_due_and_nothing_before(tmp_path: Path) -> None:
    from dnsbackend.update.jobs import resign_job

    zone = SignedZone(tmp_path, "nsec3")
    zone.save(zone_text(7, {f"h{i}": 300 for i in range(5)}))
    assert resign_job(zone.data) == []  # all fresh
    later = int(time.time()) + 12 * 86400  # every signature within 3.5 days of expiry
    (outcome,) = resign_job(zone.data, later)
    assert outcome.action is Action.LOADED and outcome.serial == 8
    nodes = zone.nodes()
    keys = zone_keys(zone.data, dns.name.from_text(ORIGIN), "ecdsap256sha256")
    assert verify_nodes(nodes, APEX, keys, later + 3 * 86400) == []
    assert resign_job(zone.data, later) == []


def test_a_zone_that_cannot_be_signed_is_not_served_and_the_last_good_version_stays(
        tmp_path: Path) -> None:
    from dnsbackend.update import jobs, signing

    zone = SignedZone(tmp_path, "nsec")
    zone.save(zone_text(1, {"www": 300}))
    served = open_shared(zone.data).entries()[KEY]
    key = zone_keys(zone.data, dns.name.from_text(ORIGIN), "ecdsap256sha256")[0]
    Path(key.path).write_bytes(b"not a key")
    jobs._recent.clear()
    signing._signed.clear()
    zone.path.write_text(zone_text(2, {"www": 300, "new": 300}))
    outcomes, _ = load_zone_job(zone.data, zone.policy.zones_dir, ORIGIN, str(zone.path))
    assert outcomes[0].action is Action.FAILED
    assert "cannot sign the zone" in outcomes[0].error and key.path in outcomes[0].error
    entry = open_shared(zone.data).entries()[KEY]
    assert (entry.version, entry.serial) == (served.version, 1)


def test_sign_set_on_a_served_zone_signs_it_without_a_save(tmp_path: Path) -> None:
    zone = SignedZone(tmp_path, "nsec")
    signing = zone.policy.explicit[KEY].signing
    zone.policy.explicit[KEY].signing = None
    zone.save(zone_text(3, {"www": 300}))
    assert dns.rdatatype.DNSKEY not in zone.nodes()[APEX]
    for denial in ("nsec", "nsec3"):  # then the other denial
        assert signing is not None
        zone.signing = zone.policy.explicit[KEY].signing = (signing[0], denial, signing[2])
        outcomes = sync_policy_job(zone.data, zone.policy.pack(), ServedSettings().pack())
        assert [o.action for o in outcomes] == [Action.KEPT, Action.LOADED]
        nodes = _assert_valid(zone)
        assert any(NSEC3 in n for n in nodes.values()) == (denial == "nsec3")
    assert open_shared(zone.data).entries()[KEY].serial == 5
    assert [o.action for o in sync_policy_job(zone.data, zone.policy.pack(),
                                              ServedSettings().pack())] == [Action.KEPT]
