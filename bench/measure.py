"""Running a command and measuring it: wall time, CPU, peak memory, machine noise."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Run:
    argv: list[str]
    returncode: int
    wall: float
    user: float  # CPU seconds of the process and its waited-for children
    system: float
    maxrss_mb: float  # kernel's peak RSS of the largest single process (wait4)
    tree_peak_mb: float  # sampled peak of the summed RSS of the whole process tree
    others_cpu: float  # CPU seconds other processes on the machine used meanwhile
    stderr: str

    @property
    def peak_mb(self) -> float:
        return max(self.maxrss_mb, self.tree_peak_mb)


def _busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot."""
    with open("/proc/stat") as fh:
        fields = fh.readline().split()[1:]
    # user nice system idle iowait irq softirq: idle and iowait are not busy.
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[:7])
    return (user + nice + system + irq + softirq) / TICK


def _kids(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                kids.extend(int(x) for x in fh.read().split())
    except OSError:
        pass
    return kids


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants now."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1]) * PAGE
        except OSError:
            continue
        todo.extend(_kids(p))
    return total


class _Sampler(threading.Thread):
    def __init__(self, pid: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self.stop.wait(self.interval)


def run(argv: list[str], *, cwd: Path | None = None, log: Path | None = None,
        interval: float = 0.05) -> Run:
    """Run ``argv`` to completion; stderr is kept (and copied to ``log``)."""
    busy0 = _busy_seconds()
    started = time.perf_counter()
    with open(os.devnull, "wb") as devnull:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=devnull, stderr=subprocess.PIPE)
        sampler = _Sampler(proc.pid, interval)
        sampler.start()
        assert proc.stderr is not None
        err = proc.stderr.read()  # drained while it runs: a full pipe would stall it
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        sampler.stop.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    busy = _busy_seconds() - busy0
    text = err.decode("utf-8", errors="replace")
    if log is not None:
        log.write_text(text)
    own = usage.ru_utime + usage.ru_stime
    return Run(
        argv=argv,
        returncode=proc.returncode,
        wall=wall,
        user=usage.ru_utime,
        system=usage.ru_stime,
        maxrss_mb=usage.ru_maxrss / 1024,
        tree_peak_mb=sampler.peak / 2**20,
        others_cpu=max(0.0, busy - own),
        stderr=text,
    )


def compile_package(python: str, package: Path) -> None:
    """Write the package's bytecode once, as installing it does.  Where
    ``PYTHONDONTWRITEBYTECODE`` is set (this kind of machine sets it) every
    run would otherwise compile the package again, a tenth of a second or
    more per start that an installed feedsvc does not pay."""
    subprocess.run([python, "-m", "compileall", "-q", str(package)], check=True)

