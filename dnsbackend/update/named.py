"""The write jobs by name, for the serving process to submit without importing the writers' code.

update.jobs brings the zone readers, dnspython's zone and DNSSEC modules, cryptography
and the signing: about a fifth of the serving process's imports, none of which it needs
to answer. The writers' fork server has imported it already (update.process), so a job
named here costs the writer nothing more, and the server imports none of it before it
serves what the store holds. mypy sees the jobs themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any


class Job:
    """A function of update.jobs by its name: pickled as the name, run in the writer."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, *args: Any) -> Any:
        from . import jobs

        return getattr(jobs, self.name)(*args)

    def __reduce__(self) -> tuple[type[Job], tuple[str]]:
        return Job, (self.name,)

    def __repr__(self) -> str:
        return f"update.jobs.{self.name}"


if TYPE_CHECKING:
    from .jobs import (
        load_zone_job,
        recover_job,
        resign_job,
        sync_policy_job,
        warm_up,
    )
else:
    load_zone_job = Job("load_zone_job")
    recover_job = Job("recover_job")
    resign_job = Job("resign_job")
    sync_policy_job = Job("sync_policy_job")
    warm_up = Job("warm_up")

__all__ = ["Job", "load_zone_job", "recover_job", "resign_job", "sync_policy_job", "warm_up"]
