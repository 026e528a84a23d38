"""TransferPacer: transfers take turns, and yield the event loop to queries while they come."""

from __future__ import annotations

import asyncio

from dnsbackend.serve.tcp import TransferPacer


def test_transfers_take_turns_one_slice_each() -> None:
    async def run() -> list[str]:
        pacer = TransferPacer()
        order: list[str] = []
        left = {"a": 3, "b": 2}
        done = asyncio.Event()

        def turn(name: str) -> None:
            order.append(name)
            left[name] -= 1
            if left[name]:
                pacer.wait(lambda: turn(name))
            elif not any(left.values()):
                done.set()

        pacer.wait(lambda: turn("a"))
        pacer.wait(lambda: turn("b"))
        await asyncio.wait_for(done.wait(), 5)
        return order

    assert asyncio.run(run()) == ["a", "b", "a", "b", "a"]


def test_the_next_slice_waits_only_while_queries_come_in() -> None:
    ended: list[float] = []

    async def run() -> tuple[asyncio.Handle | None, asyncio.Handle | None]:
        activity = [0]
        pacer = TransferPacer(share=0.2)
        pacer.activity = lambda: activity[0]
        loop = asyncio.get_running_loop()

        def one_slice(queries: int) -> None:
            activity[0] += queries  # queries answered meanwhile, or none
            deadline = loop.time() + 0.005
            while loop.time() < deadline:
                pass
            ended.append(loop.time())
            pacer.wait(lambda: None)  # more of the transfer to send

        pacer.wait(lambda: one_slice(1))
        await asyncio.sleep(0)  # the slice runs
        busy = pacer.timer
        while pacer.timer is not None or pacer.waiting:  # the transfer's next (last) turn
            await asyncio.sleep(0.01)
        pacer.wait(lambda: one_slice(0))
        await asyncio.sleep(0)
        return busy, pacer.timer

    busy, quiet = asyncio.run(run())
    # Busy: the next turn waits at least (1 / share - 1) times the 5 ms slice.
    assert isinstance(busy, asyncio.TimerHandle)
    assert busy.when() - ended[0] >= 0.02
    # Quiet: the next turn is not delayed (call_soon, not a timer).
    assert quiet is not None and not isinstance(quiet, asyncio.TimerHandle)
