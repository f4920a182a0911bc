#!/usr/bin/env python3
"""Turn one h2load run into the RESULT line that lib/report.lua prints for wrk, so that the
HTTP/2 cases go through the same table (lib/table.py).

  python3 bench/lib/h2result.py H2LOAD_STDOUT H2LOAD_LOG

RESULT requests bytes duration_us p50_us p99_us err_connect err_read err_write err_status
err_timeout: requests are h2load's succeeded ones, bytes its whole traffic (frames and
headers included, as wrk counts the whole response), the percentiles come from its
per-request log (--log-file: start, status, microseconds), failed and errored requests
count as read errors, statuses of 400 and up as status errors.
"""
import re
import sys


def main(out_path, log_path):
    out = open(out_path, encoding="utf-8", errors="replace").read()
    secs = re.search(r"finished in ([\d.]+)(m?s)", out)
    reqs = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, "
                     r"(\d+) errored, (\d+) timeout", out)
    traffic = re.search(r"traffic: \S+ \((\d+)\) total", out)
    if not (secs and reqs and traffic):
        sys.exit(f"h2load output not understood: {out_path}")
    duration_us = float(secs.group(1)) * (1e3 if secs.group(2) == "ms" else 1e6)
    ok, failed, errored, timeout = (int(x) for x in reqs.groups())
    lat, bad = [], 0
    for line in open(log_path, encoding="utf-8"):
        f = line.split()
        if len(f) < 3:
            continue
        lat.append(int(f[2]))
        if int(f[1]) >= 400 or int(f[1]) < 0:
            bad += 1
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(len(lat) * p / 100))] if lat else 0

    print(f"RESULT {ok} {traffic.group(1)} {duration_us:.0f} {pct(50)} {pct(99)} "
          f"0 {failed + errored} 0 {bad} {timeout}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
