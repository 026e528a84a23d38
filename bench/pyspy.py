"""Profile of dnsbackend under load (`--profile`): py-spy's samples of the serving thread."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from testkit.dnsperf import Dnsperf, Load

from .options import Options
from .querymix import Mix
from .servers import Running
from .tools import log


def profile(run: Running, mix: Mix, opts: Options, gen_cpu: str, tmp: Path) -> None:
    """py-spy on the server for `opts.profile` seconds while dnsperf sends the mix."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        log("py-spy not found: pip install py-spy (into the venv) to profile")
        return
    seconds = opts.profile
    raw = tmp / f"profile-{mix.name}.txt"
    perf = Dnsperf(Load(run.port, mix.binary, seconds + 2, binary=True, clients=opts.clients,
                        cpus=gen_cpu), tmp / "profile-dnsperf.out")
    time.sleep(1)
    # --native: the query path is compiled (mypyc), its functions are C functions.
    subprocess.run([spy, "record", "--native", "-d", str(seconds), "-r", "250", "--format", "raw",
                    "-o", str(raw), "--pid", str(run.proc.pid)],
                   capture_output=True, text=True)
    perf.result()
    if raw.exists():
        text = summarize_profile(raw)
        out = Path(opts.profile_out) / f"profile-{mix.name}.txt" if opts.profile_out else None
        if out:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text)
            shutil.copyfile(raw, out.parent / raw.name.replace(".txt", ".raw"))
        print(f"\n### py-spy profile, {mix.name} mix, UDP, 1 worker\n\n{text}")


def summarize_profile(raw: Path, top: int = 15) -> str:
    """Self and total time per function from py-spy's collapsed stacks, serving thread only."""
    self_t: Counter[str] = Counter()
    total_t: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if "Runner.run" not in stack:  # other threads: the writer pool's helpers, idle
            continue
        n = int(count)
        samples += n
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        self_t[frames[-1]] += n
        for f in set(frames):
            total_t[f] += n
    if not samples:
        return "(no samples)"
    lines = [f"{samples} samples of the serving thread.", "",
             "| self % | total % | function |", "|---:|---:|---|"]
    for f, n in self_t.most_common(top):
        lines.append(f"| {100 * n / samples:.1f} | {100 * total_t[f] / samples:.1f} | `{f}` |")
    lines += ["", "Largest total (inclusive) time:", "",
              "| total % | function |", "|---:|---|"]
    for f, n in total_t.most_common(top + 6):
        lines.append(f"| {100 * n / samples:.1f} | `{f}` |")
    return "\n".join(lines)
