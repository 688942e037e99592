"""Benchmark the core pipeline against the targets, at N synthetic seed files.

    .venv/bin/python bench/gen_seeds.py --n 100000 bench/out/seeds
    .venv/bin/python bench/bench_core.py --n 100000

Steps, each a fresh ``python -m feedsvc`` process like a cron job would start:
floor (scandir + sort, read every file once), cold ingest (fresh store),
warm re-run (nothing changed), cold publish (fresh output folder; it begins
with a no-op ingest), warm re-publish (nothing may be rewritten), feeds only
(feed and index files deleted, pages kept, publish again).  Then the store's
decision per file is compared with the generator's manifest.  Last, one new
file (``newfile``): an unchanged ``publish``, then a new article dropped into
the folder and ``publish`` again, three times; the files are removed afterwards
(their entries stay in the store).
Prints a table of figure vs target and writes ``bench/out/results.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen_seeds
from measure import Run, compile_package, run

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
#: (figure, limit, unit) — the targets of the issue, for N = 100,000 files.
TARGETS = {
    "cold_ingest_s": 60.0,
    "rerun_s": 5.0,
    "publish_s": 15.0,
    "peak_mb": 500.0,
}
STEPS = ("floor", "ingest", "rerun", "publish", "republish", "feeds", "accuracy", "newfile")
#: New files dropped in, one publish each, by the ``newfile`` step.
NEW_FILES = 3
#: The files of a section that are feeds or indexes (not article pages).
FEED_FILES = ("atom.xml", "rss.xml", "index.html")

CONFIG = """\
# Benchmark configuration: the defaults, spelled out.
[site]
title = "feedsvc bench"
base_url = "http://localhost:8000/"

[seeds]
pattern = "*.txt"
boilerplate = ["Coronavirus banner"]

[publish]
entries_per_feed = 50

[dedup]
threshold = 0.8
"""

INGEST_LINE = re.compile(
    r"ingest: (\d+) new, (\d+) revised, (\d+) duplicate, (\d+) unchanged, (\d+) rejected"
    r" in ([\d.]+) s")
PUBLISH_LINE = re.compile(
    r"publish: (\d+) feed file\(s\) written, (\d+) unchanged, (\d+) page\(s\) written,"
    r" (\d+) removed in ([\d.]+) s")


# ---------------------------------------------------------------------------
# the folder of seeds


def ensure_seeds(folder: Path, n: int, seed: int) -> dict[str, Any]:
    """The manifest of ``folder``, generating the files first if they are not there."""
    manifest = folder.with_name(folder.name + ".manifest.json")
    if manifest.is_file():
        data: dict[str, Any] = json.loads(manifest.read_text())
        if data["n"] == n and data["seed"] == seed:
            print(f"reusing {folder} ({n} files)")
            return data
        print(f"{folder} holds {data['n']} files (seed {data['seed']}); regenerating")
    if folder.exists():
        shutil.rmtree(folder)
    print(f"generating {n} files into {folder} …", flush=True)
    gen_seeds.print_summary(gen_seeds.generate(n, folder, seed, manifest))
    result: dict[str, Any] = json.loads(manifest.read_text())
    return result


# ---------------------------------------------------------------------------
# steps


def floor(folder: Path) -> dict[str, float]:
    """What any ingest must at least do: list the folder and read each file once."""
    t0 = time.perf_counter()
    names = sorted(e.name for e in os.scandir(folder) if e.name.endswith(".txt"))
    t1 = time.perf_counter()
    figures: dict[str, float] = {"scandir_sort_s": t1 - t0, "files": len(names)}
    for label in ("read_first_pass_s", "read_s"):  # the second pass is the warm-cache floor
        t0 = time.perf_counter()
        total = 0
        for name in names:
            with open(os.path.join(folder, name), "rb") as fh:
                total += len(fh.read())
        figures[label] = time.perf_counter() - t0
    figures["bytes"] = total
    figures["create_file_ms"] = _create_cost(folder.parent)
    return figures


def _create_cost(where: Path, count: int = 3000, size: int = 6000) -> float:
    """Milliseconds of CPU to create one file of ``size`` bytes here (open,
    write, close, as plainly as Python can), the floor under writing an
    article page: with ~94,000 pages this bounds a cold publish."""
    folder = Path(tempfile.mkdtemp(prefix="create-floor-", dir=where))
    data = b"x" * size
    try:
        t0 = time.process_time()
        for i in range(count):
            fd = os.open(folder / f"{i:016x}.html", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.write(fd, data)
            os.close(fd)
        return (time.process_time() - t0) / count * 1000
    finally:
        shutil.rmtree(folder)


class Cli:
    """``python -m feedsvc`` with the bench's config, store and output folder."""

    def __init__(self, seeds: Path, work: Path, profile: bool) -> None:
        self.seeds, self.work, self.profile = seeds, work, profile
        self.config = work / "bench.toml"
        self.db = work / "data" / "bench.db"
        self.out = work / "feeds"
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.config.write_text(CONFIG)

    def __call__(self, step: str, command: str, *extra: str) -> Run:
        argv = [sys.executable]
        if self.profile:
            argv += ["-m", "cProfile", "-o", str(self.logs / f"{step}.prof")]
        argv += ["-m", "feedsvc", command, "--config", str(self.config), "--seeds",
                 str(self.seeds), "--db", str(self.db), *extra]
        result = run(argv, cwd=self.work, log=self.logs / f"{step}.log")
        if result.returncode != 0:  # the bench never passes --strict: any failure is an error
            tail = "\n".join(result.stderr.splitlines()[-15:])
            raise SystemExit(f"{step}: feedsvc exited {result.returncode}\n{tail}")
        return result

    def fresh_store(self) -> None:
        if self.db.parent.exists():
            shutil.rmtree(self.db.parent)
        self.db.parent.mkdir(parents=True)

    def fresh_out(self) -> None:
        if self.out.exists():
            shutil.rmtree(self.out)


def ingest_parts(r: Run) -> dict[str, Any]:
    m = INGEST_LINE.search(r.stderr)
    if not m:
        return {}
    keys = ("new", "revised", "duplicate", "unchanged", "rejected")
    return {"counts": dict(zip(keys, map(int, m.groups()[:5]), strict=True)),
            "ingest_s": float(m.group(6))}


def publish_parts(r: Run) -> dict[str, Any]:
    m = PUBLISH_LINE.search(r.stderr)
    if not m:
        return {}
    keys = ("feeds_written", "feeds_unchanged", "pages_written", "files_removed")
    return {**dict(zip(keys, map(int, m.groups()[:4]), strict=True)),
            "publish_s": float(m.group(5))}


def describe(r: Run) -> dict[str, Any]:
    return {
        "wall_s": round(r.wall, 3),
        "cpu_user_s": round(r.user, 3),
        "cpu_sys_s": round(r.system, 3),
        "maxrss_mb": round(r.maxrss_mb, 1),
        "tree_peak_mb": round(r.tree_peak_mb, 1),
        "others_cpu_s": round(r.others_cpu, 2),
        **ingest_parts(r),
        **publish_parts(r),
    }


def new_article(rng: random.Random, words: list[str]) -> str:
    """A seed file's text no stored article is near: random words."""
    paragraphs = [" ".join(rng.choice(words) for _ in range(60)) + "." for _ in range(6)]
    title = " ".join(rng.choice(words) for _ in range(7)).capitalize()
    return "\n\n".join(["National / Politics", title, "by Bench Writer", "Staff Writer",
                        *paragraphs]) + "\n"


def one_new_file(cli: Cli) -> dict[str, Any]:
    """NEW_FILES times: an unchanged publish, then one new file and publish;
    pairs alternate so that both see the same page cache."""
    if not cli.out.exists():
        cli("newfile-setup", "publish", "--out", str(cli.out))
    words = sorted({w.strip(".,") for w in re.findall(r"[a-z]{4,}", " ".join(
        p.read_text(encoding="utf-8", errors="replace")
        for p in sorted(cli.seeds.iterdir())[:50]))})
    rng = random.Random(time.time_ns())
    unchanged: list[Run] = []
    runs: list[Run] = []
    added: list[Path] = []
    try:
        for i in range(NEW_FILES):
            unchanged.append(cli(f"newfile-unchanged-{i}", "publish", "--out", str(cli.out)))
            path = cli.seeds / f"zz-bench-new-{os.getpid()}-{i}.txt"
            path.write_text(new_article(rng, words), encoding="utf-8")
            added.append(path)
            runs.append(r := cli(f"newfile-{i}", "publish", "--out", str(cli.out)))
            if " 1 new," not in r.stderr:  # the figure is only of a file that is ingested
                raise SystemExit(f"newfile: {path.name} was not ingested as new:\n{r.stderr}")
    finally:
        for path in added:
            path.unlink(missing_ok=True)
    mid, still = _median(runs), _median(unchanged)
    return {**describe(mid), "unchanged_wall_s": round(still.wall, 3),
            "new_walls_s": sorted(round(r.wall, 3) for r in runs),
            "unchanged_walls_s": sorted(round(r.wall, 3) for r in unchanged),
            "over_unchanged_s": round(mid.wall - still.wall, 3),
            "unchanged_peak_mb": round(max(still.maxrss_mb, still.tree_peak_mb), 1)}


def _median(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.wall)[len(runs) // 2]


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """relpath -> (mtime_ns, size) of every file under ``folder``."""
    snap: dict[str, tuple[int, int]] = {}
    for root, _dirs, files in os.walk(folder):
        for name in files:
            st = os.stat(os.path.join(root, name))
            snap[os.path.relpath(os.path.join(root, name), folder)] = (st.st_mtime_ns, st.st_size)
    return snap


# ---------------------------------------------------------------------------
# decisions vs the manifest


def accuracy(db: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Compare the store's recorded decision per file with the generator's intent.

    A revision or duplicate counts as right only if it was attached to the
    entry that the article's first file created.
    """
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    columns = {row[1] for row in con.execute("PRAGMA table_info(files)")}
    path = "relpath" if "relpath" in columns else "path"
    rows = con.execute(f"SELECT {path}, decision, entry_id FROM files WHERE source = 'seeds'")
    actual = {Path(rel).name: (dec, entry) for rel, dec, entry in rows}
    con.close()
    files = manifest["files"]
    entry_of_article: dict[int, str | None] = {}
    for f in files:
        if f["kind"] == "new":
            entry_of_article[f["entry"]] = actual.get(f["file"], (None, None))[1]
    confusion: Counter[tuple[str, str]] = Counter()
    wrong_target: Counter[str] = Counter()
    misses: list[dict[str, Any]] = []
    for f in files:
        dec, entry = actual.get(f["file"], ("missing", None))
        expected = f["expected"]
        if (expected == dec and dec in ("revised", "duplicate")
                and entry != entry_of_article.get(f["entry"])):
            wrong_target[dec] += 1
            dec = f"{dec} (wrong entry)"
        confusion[(expected, dec)] += 1
        if expected != dec and len(misses) < 40:
            misses.append({**f, "actual": dec})
    result: dict[str, Any] = {
        "confusion": {f"{e} -> {a}": c for (e, a), c in sorted(confusion.items())},
        "wrong_target": dict(wrong_target),
        "examples_of_mismatch": misses,
    }
    for kind in ("revised", "duplicate", "new", "rejected"):
        tp = confusion[(kind, kind)]
        predicted = sum(c for (e, a), c in confusion.items() if a.split(" ")[0] == kind)
        expected = sum(c for (e, a), c in confusion.items() if e == kind)
        result[kind] = {
            "expected": expected,
            "predicted": predicted,
            "correct": tp,
            "precision": round(tp / predicted, 4) if predicted else None,
            "recall": round(tp / expected, 4) if expected else None,
        }
    missed_by_edit: Counter[str] = Counter()
    for f in files:
        if f["expected"] == "revised" and actual.get(f["file"], ("",))[0] != "revised":
            missed_by_edit[f["flavour"]] += 1
    result["revisions_missed_by_edit"] = dict(missed_by_edit)
    return result


# ---------------------------------------------------------------------------
# report


def verdict(value: float | None, limit: float) -> str:
    if value is None:
        return "n/a"
    return "PASS" if value <= limit else "FAIL"


def table(results: dict[str, Any]) -> str:
    s = results["steps"]
    n = results["n"]
    scale = n / 100_000
    rows: list[tuple[str, str, str, str]] = []

    def add(label: str, value: float | None, unit: str, target: float | None = None,
            scaled: bool = True) -> None:
        shown = "—" if value is None else f"{value:,.2f} {unit}"
        if target is None:
            rows.append((label, shown, "", ""))
        else:
            t = target * scale if unit == "s" and scaled else target
            rows.append((label, shown, f"≤ {t:,.1f} {unit}", verdict(value, t)))

    fl = s.get("floor", {})
    add("scandir + sort", fl.get("scandir_sort_s"), "s")
    add("read every file once (floor)", fl.get("read_s"), "s")
    add("create one 6 KB file (page floor)", fl.get("create_file_ms"), "ms")
    add("feedsvc --version (start-up)", fl.get("startup_s"), "s")
    # Feeds hold the newest entries of each section: their size does not grow with N.
    for key, label, target, scaled in (
        ("ingest", "cold ingest (CLI wall)", TARGETS["cold_ingest_s"], True),
        ("rerun", "re-run, unchanged folder", TARGETS["rerun_s"], True),
        ("publish", "cold publish, feeds + pages (CLI wall)", TARGETS["publish_s"], True),
        ("republish", "re-publish, nothing changed", None, True),
        ("feeds", "publish feeds + indexes only", TARGETS["publish_s"], False),
    ):
        st = s.get(key)
        if not st:
            continue
        add(label, st["wall_s"], "s", target, scaled)
        # On a shared machine wall time waits for other processes; CPU time
        # of the step's own processes is the steadier figure.
        add("  CPU time of feedsvc (user + sys)", st["cpu_user_s"] + st["cpu_sys_s"], "s")
        if "ingest_s" in st:
            add("  of which ingest (own report)", st["ingest_s"], "s")
        if "publish_s" in st:
            add("  of which publish (own report)", st["publish_s"], "s")
        add("  peak memory (process tree)", max(st["maxrss_mb"], st["tree_peak_mb"]), "MB")
        add("  CPU used by other processes", st["others_cpu_s"], "s")
    peak = results.get("peak_mb")
    add("peak memory, all steps", peak, "MB", TARGETS["peak_mb"])
    if fl.get("read_s") and s.get("ingest"):
        add("cold ingest / floor", s["ingest"]["wall_s"] / fl["read_s"], "x")
    nf = s.get("newfile")
    if nf:
        add("one new file, then publish (median)", nf["wall_s"], "s")
        add("  unchanged publish, same run (median)", nf["unchanged_wall_s"], "s")
        rows.append(("  new file over unchanged", f"{nf['over_unchanged_s']:,.2f} s", "≤ 0.2 s",
                     verdict(nf["over_unchanged_s"], 0.2)))
        add("  peak memory (process tree)", max(nf["maxrss_mb"], nf["tree_peak_mb"]), "MB")
    rp = s.get("republish", {})
    if "files_changed" in rp:
        rows.append(("re-publish: files rewritten", str(rp["files_changed"]), "= 0",
                     "PASS" if rp["files_changed"] == 0 else "FAIL"))
    acc = s.get("accuracy")
    if acc:
        for kind in ("revised", "duplicate", "new", "rejected"):
            a = acc[kind]
            rows.append((f"{kind}: precision / recall", f"{a['precision']} / {a['recall']}",
                         f"{a['correct']}/{a['expected']}", ""))
    head = ("figure", "measured", "target", "")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def environment() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              check=False).stdout.strip()

    # The pipeline may be measured before it is committed: name the exact code.
    code = hashlib.sha256()
    for path in sorted((REPO / "feedsvc").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            code.update(path.relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes())
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "feedsvc_uncommitted": bool(git("status", "--porcelain", "--", "feedsvc")),
        "feedsvc_sha256": code.hexdigest()[:16],
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
        "loadavg_before": os.getloadavg(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=20180411)
    ap.add_argument("--seeds", type=Path, default=OUT / "seeds",
                    help="seed folder (generated there if absent or of another N)")
    ap.add_argument("--work", type=Path,
                    help="store, output folder and logs (default: bench/out/work-<N>)")
    ap.add_argument("--only", default=",".join(STEPS),
                    help=f"comma-separated subset of {','.join(STEPS)} (later steps reuse "
                    "the store and output of earlier runs)")
    ap.add_argument("--profile", action="store_true",
                    help="run feedsvc under cProfile (logs/<step>.prof); timings then inflate")
    ap.add_argument("--results", type=Path, default=OUT / "results.json")
    ap.add_argument("--show", type=Path, metavar="RESULTS",
                    help="only print the table of an earlier results.json")
    args = ap.parse_args(argv)
    if args.show:
        print(table(json.loads(args.show.read_text())))
        return
    steps = [s for s in args.only.split(",") if s]
    unknown = set(steps) - set(STEPS)
    if unknown:
        ap.error(f"unknown step(s): {', '.join(sorted(unknown))}")

    args.work = args.work or OUT / f"work-{args.n}"
    compile_package(sys.executable, REPO / "feedsvc")
    manifest = ensure_seeds(args.seeds.absolute(), args.n, args.seed)
    cli = Cli(args.seeds.absolute(), args.work.absolute(), args.profile)
    results: dict[str, Any] = {"n": args.n, "seed": args.seed, "targets": TARGETS,
                               "generator": {k: v for k, v in manifest.items() if k != "files"},
                               "environment": environment(), "steps": {}}
    s = results["steps"]
    if set(steps) != set(STEPS) and args.results.is_file():
        # A partial run completes the figures of the last full one at this N.
        earlier = json.loads(args.results.read_text())
        if earlier.get("n") == args.n:
            s.update({k: v for k, v in earlier["steps"].items() if k not in steps})

    def report(step: str, figures: dict[str, Any]) -> None:
        s[step] = {**figures, "feedsvc_sha256": results["environment"]["feedsvc_sha256"]}
        shown = {k: v for k, v in figures.items() if not isinstance(v, dict | list)}
        print(f"{step}: {json.dumps(shown)}", flush=True)

    if "floor" in steps:
        figures = floor(cli.seeds)
        # Interpreter start-up and imports: part of every CLI figure below.
        figures["startup_s"] = run([sys.executable, "-m", "feedsvc", "--version"]).wall
        report("floor", {k: round(v, 3) for k, v in figures.items()})
    if "ingest" in steps:
        cli.fresh_store()
        report("ingest", describe(cli("ingest", "ingest")))
    if "rerun" in steps:
        report("rerun", describe(cli("rerun", "ingest")))
    if "publish" in steps:
        cli.fresh_out()
        r = cli("publish", "publish", "--out", str(cli.out))
        snap = snapshot(cli.out)
        report("publish", {**describe(r), "files": len(snap),
                           "bytes": sum(size for _, size in snap.values())})
    if "republish" in steps:
        before = snapshot(cli.out)
        r = cli("republish", "publish", "--out", str(cli.out))
        after = snapshot(cli.out)
        changed = sum(1 for k, v in after.items() if before.get(k) != v)
        removed = sum(1 for k in before if k not in after)
        report("republish", {**describe(r), "files_changed": changed, "files_removed": removed})
    if "feeds" in steps:
        # Feeds and indexes only: delete them (pages stay) and publish again.
        gone = [p for p in cli.out.rglob("*") if p.name in FEED_FILES
                and "articles" not in p.relative_to(cli.out).parts]
        for p in gone:
            p.unlink()
        r = cli("feeds", "publish", "--out", str(cli.out))
        back = sum(1 for p in gone if p.exists())
        report("feeds", {**describe(r), "feed_files_deleted": len(gone), "recreated": back})
    if "accuracy" in steps and cli.db.exists():
        s["accuracy"] = accuracy(cli.db, manifest)
        print("accuracy: " + json.dumps(s["accuracy"]["confusion"]))
    if "newfile" in steps and cli.db.exists():
        report("newfile", one_new_file(cli))

    timed = [v for k, v in s.items()
             if k in ("ingest", "rerun", "publish", "republish", "feeds", "newfile")]
    results["peak_mb"] = max((max(v["maxrss_mb"], v["tree_peak_mb"]) for v in timed),
                             default=None)
    results["environment"]["loadavg_after"] = os.getloadavg()
    print()
    print(table(results))
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"\nwritten {args.results}")


if __name__ == "__main__":
    main()
