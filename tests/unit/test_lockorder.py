"""The lock-order checker catches a reversed path; the transaction helper keeps the order."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from dnsbackend.store import lockorder
from dnsbackend.store.database import Store
from dnsbackend.store.transaction import Transaction, begin_catalog, begin_zones


def test_reversed_path_is_caught_before_it_can_block(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "db"), map_size=1 << 26)
    zones = begin_zones(store)
    try:
        with pytest.raises(lockorder.LockOrderError, match="taking 'catalog' while holding"):
            begin_catalog(store)
        assert lockorder.held() == ["zones"]
    finally:
        zones.abort()
        lockorder.released("zones")
    assert lockorder.held() == []


def test_retaking_a_held_lock_is_caught(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "db"), map_size=1 << 26)
    with Transaction(store), pytest.raises(lockorder.LockOrderError):
        begin_catalog(store)


def test_transaction_takes_catalog_then_zones_and_releases_both(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "db"), map_size=1 << 26)
    with Transaction(store) as txn:
        assert lockorder.held() == ["catalog", "zones"]
        txn.set_catalog_value(b"x", b"1")
    assert lockorder.held() == []
    with pytest.raises(RuntimeError, match="boom"), Transaction(store) as txn:
        txn.set_catalog_value(b"x", b"2")
        raise RuntimeError("boom")
    assert lockorder.held() == []
    with Transaction(store) as txn:
        assert txn.catalog_value(b"x") == b"1"  # the failed one was rolled back


def test_many_threads_many_transactions_finish(tmp_path: Path) -> None:
    """Writers in several threads at once: with one lock order they all finish."""
    store = Store(str(tmp_path / "db"), map_size=1 << 26)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(100):
                with Transaction(store) as txn:
                    txn.set_catalog_value(f"k{i}".encode(), str(j).encode())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "writers deadlocked"
    assert not errors
    with Transaction(store) as txn:
        assert all(txn.catalog_value(f"k{i}".encode()) == b"99" for i in range(8))
