#!/usr/bin/env python3
"""How long a search's dashboard page takes to show in a real browser.

Opens URL (a search's page, http://HOST:PORT/searches/ID) in headless
Chromium through chromedriver RUNS times, each in a fresh session (cold
browser cache), and prints, per run and as medians: when the page's HTML
had loaded (DOMContentLoaded: the reference), when its plots were drawn
and when its evaluations table was drawn (the marks app.js sets), all in
ms from the navigation's start, and the page's time over the reference.
Used with `nas bench dashboard --keep` and `nas dashboard --prefix`
(docs/BENCHMARKS.md). Needs chromium and chromium-driver (scripts/setup.sh).
"""
import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
import urllib.request


def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"null")["value"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--timeout-s", type=float, default=60)
    args = ap.parse_args()
    port = free_port()
    driver = subprocess.Popen(["chromedriver", f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if call(base, "GET", "/status")["ready"]:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        rows = []
        for run in range(args.runs):
            caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1100"]}}}}
            sid = call(base, "POST", "/session", caps)["sessionId"]
            try:
                call(base, "POST", f"/session/{sid}/url", {"url": args.url})
                end = time.time() + args.timeout_s
                script = ("const m = n => (performance.getEntriesByName(n)[0] || {}).startTime;"
                          "const nav = performance.getEntriesByType('navigation')[0];"
                          "return [nav ? nav.domContentLoadedEventEnd : null, m('nas:search-drawn'), m('nas:table-drawn'),"
                          " document.querySelectorAll('#plot-evals circle.pt').length];")
                while True:
                    html, plots, table, points = call(base, "POST", f"/session/{sid}/execute/sync", {"script": script, "args": []})
                    if plots is not None and table is not None:
                        break
                    if time.time() > end:
                        sys.exit(f"run {run + 1}: the page did not draw within {args.timeout_s} s")
                    time.sleep(0.05)
                shown = max(plots, table)
                rows.append((html, plots, table, shown))
                print(f"run {run + 1}: html {html:.0f} ms, plots {plots:.0f} ms ({points} points), "
                      f"table {table:.0f} ms; shown at {shown:.0f} ms, {shown / html:.2f}x the html")
            finally:
                call(base, "DELETE", f"/session/{sid}")
        med = [statistics.median(c) for c in zip(*rows)]
        print(f"median: html {med[0]:.0f} ms, plots {med[1]:.0f} ms, table {med[2]:.0f} ms; "
              f"shown at {med[3]:.0f} ms, {med[3] / med[0]:.2f}x the html")
    finally:
        driver.terminate()
        driver.wait()


if __name__ == "__main__":
    main()
