"""The daemon's idle cost and its latency from a new seed file to the feeds.

    .venv/bin/python bench/bench_daemon.py                 # 10 min idle, 50 probes
    .venv/bin/python bench/bench_daemon.py --idle 60       # a quick look

Steps, all against ``bench/out/daemon`` (git-ignored) with the default
``[daemon]`` settings (scan every 60 s, watcher on, publish 0.5 s after a
change):

1. ``--files`` seed files (default 1,000) from ``gen_seeds.py``, ingested and
   published by ``feedsvc run --once``.
2. ``feedsvc run`` is started and left alone until its start-up scan and
   publish are done.  Then, for ``--idle`` seconds (default 600), nothing
   changes: the CPU seconds it uses (``/proc/<pid>/stat``) and its resident
   memory (sampled every second; the kernel's lifetime peak ``VmHWM`` too)
   are the idle cost.  Targets: under 2 % of one core, under 150 MB.
3. ``--probes`` new articles (default 50), each landed atomically (written
   under a hidden name, renamed into place) one at a time; the latency is the
   time until its title is in the root ``atom.xml``.  Targets: median ≤ 2 s,
   worst ≤ 5 s.
4. SIGTERM: the time to exit, and the exit code (must be 0).

"CPU used by other processes" is what the rest of the machine used during
the idle window; far above zero means the figures are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import TICK, _busy_seconds, tree_rss

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable

_VOCABULARY = """council budget harbor festival museum teacher river typhoon hospital vaccine
research robot factory election coalition court airport tourism harvest energy solar bank wage
pension reform island treaty summit stadium season league champion market export rail"""
WORDS = _VOCABULARY.split()

CONFIG = """[seeds]
folder = "seeds"
[store]
path = "data/feedsvc.db"
[publish]
folder = "data/feeds"
"""


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of the whole line (2 and 3 are pid, comm)
    return (int(fields[11]) + int(fields[12])) / TICK


def vm_hwm_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def probe_text(i: int, rng: random.Random) -> tuple[str, str]:
    title = f"Latency probe {i} {rng.getrandbits(40):010x}"
    paragraphs = []
    for _ in range(5):
        words = [rng.choice(WORDS) for _ in range(rng.randint(40, 70))]
        paragraphs.append(" ".join(words).capitalize() + f" {rng.getrandbits(32)}.")
    text = "\n\n".join(["National / Politics", title, "by Bench Writer", "Staff Writer",
                        *paragraphs]) + "\n"
    return title, text


def log_lines(path: Path) -> list[dict[str, object]]:
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines()]


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def prepare(work: Path, files: int) -> None:
    seeds = work / "seeds"
    if not seeds.is_dir() or len(list(seeds.glob("*.txt"))) != files:
        shutil.rmtree(seeds, ignore_errors=True)
        subprocess.run([PY, str(REPO / "bench" / "gen_seeds.py"), "--n", str(files),
                        "--manifest", str(work / "seeds.manifest.json"), str(seeds)],
                       check=True, stdout=subprocess.DEVNULL)
    shutil.rmtree(work / "data", ignore_errors=True)
    (work / "bench.toml").write_text(CONFIG)
    subprocess.run([PY, "-m", "feedsvc", "run", "--once", "-q", "--config", "bench.toml"],
                   cwd=work, check=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--idle", type=float, default=600, help="idle window in seconds")
    ap.add_argument("--files", type=int, default=1000, help="unchanged seed files")
    ap.add_argument("--probes", type=int, default=50, help="new files for the latency")
    ap.add_argument("--work", type=Path, default=REPO / "bench" / "out" / "daemon")
    args = ap.parse_args(argv)
    work: Path = args.work.absolute()
    work.mkdir(parents=True, exist_ok=True)
    prepare(work, args.files)

    log = work / "run.log"
    with log.open("wb") as err:
        proc = subprocess.Popen([PY, "-m", "feedsvc", "run", "--config", "bench.toml",
                                 "--log-format", "json"], cwd=work,
                                stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_for(lambda: any(r.get("job") == "publish" and "duration" in r
                             for r in log_lines(log)), 120, "the start-up publish")
        time.sleep(2)

        # -- idle
        scans0 = sum(1 for r in log_lines(log) if r.get("job") == "seeds" and "duration" in r)
        cpu0, busy0, t0 = cpu_seconds(proc.pid), _busy_seconds(), time.monotonic()
        peak = 0
        while time.monotonic() - t0 < args.idle:
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(1)
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(proc.pid) - cpu0
        others = max(0.0, _busy_seconds() - busy0 - cpu)
        scans = sum(1 for r in log_lines(log) if r.get("job") == "seeds"
                    and "duration" in r) - scans0
        idle = {"seconds": round(elapsed, 1), "cpu_seconds": round(cpu, 3),
                "cpu_percent_of_one_core": round(100 * cpu / elapsed, 3),
                "rss_peak_mb_sampled": round(peak / 2**20, 1),
                "vm_hwm_mb_lifetime": round(vm_hwm_mb(proc.pid), 1),
                "scans": scans, "others_cpu_seconds": round(others, 1)}
        print(json.dumps({"idle": idle}, indent=1), flush=True)

        # -- latency
        rng = random.Random(20260301)
        atom = work / "data" / "feeds" / "atom.xml"
        seeds = work / "seeds"
        latencies = []
        for i in range(args.probes):
            title, text = probe_text(i, rng)
            name = f"zz_probe_{i:03d}_{rng.getrandbits(32):08x}.txt"
            temp = seeds / f".{name}.part"
            temp.write_text(text, encoding="utf-8")
            needle = title.encode()
            os.replace(temp, seeds / name)
            landed = time.perf_counter()
            deadline = landed + 60
            while time.perf_counter() < deadline:
                try:
                    if needle in atom.read_bytes():
                        break
                except FileNotFoundError:
                    pass
                time.sleep(0.01)
            else:
                raise SystemExit(f"probe {i} did not appear within 60 s")
            latencies.append(time.perf_counter() - landed)
            time.sleep(rng.uniform(0.3, 1.0))
        latency = {"probes": len(latencies),
                   "median_s": round(statistics.median(latencies), 3),
                   "worst_s": round(max(latencies), 3),
                   "best_s": round(min(latencies), 3)}
        print(json.dumps({"latency": latency}, indent=1), flush=True)

        # -- stop
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
        stop = {"exit_code": code, "seconds": round(time.monotonic() - started, 3)}
        print(json.dumps({"stop": stop}, indent=1), flush=True)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    results = {"files": args.files, "idle": idle, "latency": latency, "stop": stop,
               "targets": {"idle_cpu_percent": 2, "idle_rss_mb": 150, "median_s": 2,
                           "worst_s": 5}}
    (work / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    ok = (idle["cpu_percent_of_one_core"] < 2 and idle["vm_hwm_mb_lifetime"] < 150
          and latency["median_s"] <= 2 and latency["worst_s"] <= 5 and code == 0)
    print("all targets met" if ok else "TARGET MISSED", flush=True)


if __name__ == "__main__":
    main()
