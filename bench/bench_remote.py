"""Fetching 500 remote feeds: feedsvc against Debian's newsboat, same URLs.

    .venv/bin/python bench/bench_remote.py                # 500 feeds x 20 entries
    .venv/bin/python bench/bench_remote.py --feeds 100    # a quick look

A server process on 127.0.0.1 (``http.server``, HTTP/1.1 keep-alive, Nagle
off, every body built once in memory) serves ``--feeds`` RSS 2.0 documents
of ``--entries`` entries each (~2 KB of HTML per entry, unlike one another).
Each step runs the real command as a fresh process, as cron would:

1. **first pass**: ``feedsvc ingest --only feeds`` into a new store: every
   feed fetched (200), parsed, sanitized, deduplicated, stored; and
   **newsboat**: ``newsboat -x reload`` with ``reload-threads 8`` into a new
   cache (its SQLite store), the same URLs, validators on.  The two alternate
   for ``--rounds`` rounds (default 3), each into a new store / cache: the
   machine's speed drifts by up to a fifth over minutes, so the ratio is
   taken within each round, and the median of the rounds' ratios is the
   figure (every round is printed too);
2. **304 pass**: the same again; the server answers ``If-None-Match`` with
   ``304 Not Modified``: nothing to parse;
3. **same bodies, no validators**: the server is restarted without ``ETag`` /
   ``Last-Modified``: every body comes again (200) and is recognised by its
   hash, not parsed;
4. **newsboat**, a second reload into the last round's cache (304s), for
   reference.

feedsvc runs with its default ``[fetch]`` settings: 8 fetches at once, but
at most 2 per host, and every feed here is on one host (on loopback more
threads only add contention; 8 per host measured the same).  Intervals are
1 s so that each pass finds every source due.  Figures are feeds per second
of wall time, process start included; "of which feeds" is the time feedsvc
reports for its own work.

Targets: first pass >= 2x newsboat's first reload; 304 pass >= 5x the first
pass.  Results go to ``bench/out/remote/results.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import Run, compile_package, run
from textgen import TextGen

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out" / "remote"
PY = sys.executable

def feed_document(index: int, entries: int, text: TextGen) -> bytes:
    """An RSS 2.0 feed whose entries read like distinct news articles (the
    seeds' text generator: no two are near-duplicates)."""
    text.reseed(index)
    items = []
    for j in range(entries):
        topic = text.rare_words(4)
        paragraphs = text.body_sentences([4, 4, 3, 3, 2], topic)
        html = "".join(f"<p>{_escape(p)}</p>" for p in paragraphs)
        html = html.replace("</p>", f' <a href="/story/{index}/{j}">More</a></p>', 1)
        title = _escape(text.sentence(topic).rstrip("."))
        day = 1 + (j % 28)
        items.append(
            f"<item><title>{title}</title>"
            f"<link>https://site{index % 50}.example.com/{index}/{j}?utm_source=rss</link>"
            f'<guid isPermaLink="false">feed{index}-item{j}</guid>'
            f"<pubDate>Sat, {day:02d} Nov 2026 {j % 24:02d}:{index % 60:02d}:00 +0000</pubDate>"
            f"<dc:creator>{text.name()}</dc:creator><category>News</category>"
            f"<description>{_escape(paragraphs[0])}</description>"
            f"<content:encoded>{_escape(html)}</content:encoded></item>")
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
            f'xmlns:dc="http://purl.org/dc/elements/1.1/" '
            f'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
            f"<title>Bench feed {index}</title><link>https://site{index}.example.com/</link>"
            f"<description>Feed number {index}</description>{''.join(items)}"
            f"</channel></rss>\n").encode()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def serve(port: int, feeds: int, entries: int, validators: bool) -> None:
    """The server process: bodies in memory, 304 when the ETag comes back."""
    text = TextGen(0)
    bodies = [feed_document(i, entries, text) for i in range(feeds)]
    etags = [f'"{hashlib.sha1(b).hexdigest()[:16]}"' for b in bodies]
    path = re.compile(r"/feeds/(\d+)\.xml")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            m = path.fullmatch(self.path)
            if m is None or int(m[1]) >= feeds:
                self.send_error(404)
                return
            i = int(m[1])
            if validators and self.headers.get("If-None-Match") == etags[i]:
                self.send_response(304)
                self.send_header("ETag", etags[i])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(bodies[i])))
            if validators:
                self.send_header("ETag", etags[i])
                self.send_header("Last-Modified", "Sat, 28 Nov 2026 00:00:00 GMT")
            self.end_headers()
            self.wfile.write(bodies[i])

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


class Server:
    def __init__(self, port: int, feeds: int, entries: int, validators: bool) -> None:
        argv = [PY, __file__, "--serve", str(port), "--feeds", str(feeds),
                "--entries", str(entries)]
        if not validators:
            argv.append("--no-validators")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != b"ready":
            raise SystemExit("the feed server did not start")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# ----------------------------------------------------------------------------- the steps


def feedsvc_config(folder: Path, urls: list[str]) -> Path:
    lines = ['[site]\nbase_url = "https://bench.example.org/"\n',
             '[store]\npath = "data/feedsvc.db"\n[publish]\nfolder = "data/feeds"\n',
             "[fetch]\ninterval = 1\nmin_interval = 1\n"]
    lines += [f'[[sources]]\nurl = "{u}"\nname = "feed{i}"\nsection = "News"\n'
              for i, u in enumerate(urls)]
    path = folder / "bench.toml"
    path.write_text("".join(lines), encoding="utf-8")
    (folder / "seeds").mkdir(exist_ok=True)
    return path


_REPORTED = re.compile(r"feeds: (?P<outcomes>[^;]*); entries (?P<entries>.*) in "
                       r"(?P<secs>[0-9.]+) s")


def step(name: str, argv: list[str], feeds: int, folder: Path) -> dict[str, object]:
    result: Run = run(argv, cwd=folder, log=folder / f"{name}.log")
    if result.returncode != 0:
        raise SystemExit(f"{name}: exit {result.returncode}\n{result.stderr[-2000:]}")
    doc: dict[str, object] = {"wall_s": round(result.wall, 3),
                              "feeds_per_s": round(feeds / result.wall, 1),
                              "cpu_s": round(result.user + result.system, 3),
                              "peak_mb": round(result.peak_mb, 1),
                              "others_cpu_s": round(result.others_cpu, 2)}
    m = _REPORTED.search(result.stderr)
    if m:
        doc |= {"reported_s": float(m["secs"]), "outcomes": m["outcomes"],
                "entries": m["entries"]}
    return doc


def _wall(one: dict[str, object], key: str) -> float:
    doc = one[key]
    assert isinstance(doc, dict)
    return float(doc["wall_s"])


def _median_round(rounds: list[dict[str, object]], key: str) -> dict[str, object]:
    """The figures of the round whose ``key`` step took the median time."""
    ordered = sorted(rounds, key=lambda one: _wall(one, key))
    doc = ordered[(len(ordered) - 1) // 2][key]
    assert isinstance(doc, dict)
    return doc


def newsboat_items(cache: Path) -> int:
    import sqlite3

    with sqlite3.connect(cache) as conn:
        count: int = conn.execute("SELECT count(*) FROM rss_item").fetchone()[0]
        return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--entries", type=int, default=20)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--no-validators", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--skip-newsboat", action="store_true")
    parser.add_argument("--rounds", type=int, default=3,
                        help="first passes of each program, alternating (default 3)")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.feeds, args.entries, not args.no_validators)
        return
    if not args.skip_newsboat and shutil.which("newsboat") is None:
        raise SystemExit("newsboat is not installed (apt-get install newsboat), or use "
                         "--skip-newsboat")
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    compile_package(PY, REPO / "feedsvc")
    port = free_port()
    urls = [f"http://127.0.0.1:{port}/feeds/{i}.xml" for i in range(args.feeds)]
    config = feedsvc_config(OUT, urls)
    ingest = [PY, "-m", "feedsvc", "ingest", "--only", "feeds", "--config", str(config)]
    results: dict[str, object] = {"feeds": args.feeds, "entries_per_feed": args.entries,
                                  "cpus": os.cpu_count()}
    newsboat = ["newsboat", "-u", "urls", "-c", "cache.db", "-C", "newsboat.conf", "-x",
                "reload"]
    (OUT / "urls").write_text("\n".join(urls) + "\n", encoding="utf-8")
    (OUT / "newsboat.conf").write_text("reload-threads 8\n", encoding="utf-8")
    rounds: list[dict[str, object]] = []
    server = Server(port, args.feeds, args.entries, validators=True)
    try:
        # First passes alternate, each into a new store / cache, so that both
        # programs meet the machine in the same moods (its speed drifts by a
        # fifth over minutes); the ratio is taken within each round.
        for r in range(args.rounds):
            shutil.rmtree(OUT / "data", ignore_errors=True)
            (OUT / "cache.db").unlink(missing_ok=True)
            one: dict[str, object] = {"first_pass": step(f"first-{r}", ingest, args.feeds, OUT)}
            if not args.skip_newsboat:
                one["newsboat_first"] = step(f"newsboat-first-{r}", newsboat, args.feeds, OUT)
            rounds.append(one)
        results["rounds"] = rounds
        results["first_pass"] = _median_round(rounds, "first_pass")
        time.sleep(1.1)  # every source due again (interval 1 s)
        results["pass_304"] = step("304", ingest, args.feeds, OUT)
        if not args.skip_newsboat:
            results["newsboat_first"] = _median_round(rounds, "newsboat_first")
            results["newsboat_items"] = newsboat_items(OUT / "cache.db")
            results["newsboat_304"] = step("newsboat-304", newsboat, args.feeds, OUT)
    finally:
        server.stop()
    server = Server(port, args.feeds, args.entries, validators=False)
    try:
        time.sleep(1.1)
        results["same_bodies"] = step("same-bodies", ingest, args.feeds, OUT)
    finally:
        server.stop()
    first = results["first_pass"]
    p304 = results["pass_304"]
    assert isinstance(first, dict) and isinstance(p304, dict)
    ratios: dict[str, float] = {
        "pass_304_vs_first": round(float(p304["feeds_per_s"]) / float(first["feeds_per_s"]), 2)}
    if not args.skip_newsboat:
        per_round = sorted(_wall(one, "newsboat_first") / _wall(one, "first_pass")
                           for one in rounds)
        ratios["first_vs_newsboat"] = round(statistics.median(per_round), 2)
        ratios["first_vs_newsboat_min"] = round(per_round[0], 2)
        ratios["first_vs_newsboat_max"] = round(per_round[-1], 2)
    results["ratios"] = ratios
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print_table(results)


def print_table(results: dict[str, object]) -> None:
    print(f"{results['feeds']} feeds x {results['entries_per_feed']} entries, "
          f"{results['cpus']} CPUs")
    print(f"{'step':<34} {'wall s':>8} {'feeds/s':>9} {'CPU s':>7} {'others CPU s':>13}")
    rounds = results.get("rounds")
    if isinstance(rounds, list) and len(rounds) > 1:
        print("first passes, alternating (wall s):")
        for i, one in enumerate(rounds):
            line = f"  round {i + 1}: feedsvc {_wall(one, 'first_pass'):.3f}"
            if "newsboat_first" in one:
                line += (f", newsboat {_wall(one, 'newsboat_first'):.3f}, ratio "
                         f"{_wall(one, 'newsboat_first') / _wall(one, 'first_pass'):.2f}")
            print(line)
        print("the rows below show the round with the median time")
    labels = {"first_pass": "feedsvc first pass (200, parse)",
              "pass_304": "feedsvc 304 pass",
              "same_bodies": "feedsvc same bodies, no validators",
              "newsboat_first": "newsboat -x reload (first)",
              "newsboat_304": "newsboat -x reload (304)"}
    for key, label in labels.items():
        doc = results.get(key)
        if isinstance(doc, dict):
            print(f"{label:<34} {doc['wall_s']:>8} {doc['feeds_per_s']:>9} {doc['cpu_s']:>7} "
                  f"{doc['others_cpu_s']:>13}")
            if "reported_s" in doc:
                print(f"{'  of which feeds (reported)':<34} {doc['reported_s']:>8}   "
                      f"{doc['outcomes']}; {doc['entries']}")
    print("ratios:", json.dumps(results["ratios"]))
    ratios = results["ratios"]
    assert isinstance(ratios, dict)
    checks = [("first pass >= 2x newsboat (median of the rounds' ratios)",
               ratios.get("first_vs_newsboat", 0) >= 2),
              ("first pass >= 2x newsboat in every round",
               ratios.get("first_vs_newsboat_min", 0) >= 2),
              ("304 pass >= 5x first pass", ratios["pass_304_vs_first"] >= 5)]
    for what, ok in checks:
        print(f"  {'met' if ok else 'NOT MET'}: {what}")


if __name__ == "__main__":
    main()
