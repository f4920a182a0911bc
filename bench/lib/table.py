#!/usr/bin/env python3
"""Turn run.sh's raw lines into the comparison table: one row per server and case, each
figure the median of the runs, and barehttpd's ratio to the best of the other servers.

Raw line (tab-separated): workers case server rep expected_status cpu_ticks requests bytes
duration_us p50_us p99_us err_connect err_read err_write err_status err_timeout client_cpu_us
"""
import os
import statistics
import sys

HZ = os.sysconf("SC_CLK_TCK")
US = "\u00b5s"


def derive(f):
    """Figures of one wrk run."""
    expect = int(f[4])
    ticks, reqs, nbytes, dur, p50, p99 = (float(x) for x in f[5:11])
    conn, read, write, status, timeout = (int(x) for x in f[11:16])
    # wrk counts every status >= 400 as an error: for the 404 case that is the expected answer.
    bad_status = status if expect < 400 else reqs - status
    return {
        "rps": reqs / (dur / 1e6),
        "mbs": nbytes / dur,  # bytes per microsecond = MB/s (10^6 bytes)
        "p50": p50,
        "p99": p99,
        "cpu": ticks * 1e6 / HZ / reqs if reqs else float("nan"),
        # wrk's own CPU: over loopback, TCP work is charged to whichever side transmits.
        "ccpu": float(f[16]) / reqs if reqs and len(f) > 16 else float("nan"),
        "errs": conn + read + write + timeout + int(bad_status),
    }


def fmt_lat(us):
    return f"{us / 1000:.2f}ms" if us >= 10000 else f"{us:.0f}{US}"


def main(path):
    cells = {}  # (workers, case) -> server -> [runs]
    for line in open(path, encoding="utf-8"):
        f = line.rstrip("\n").split("\t")
        if len(f) < 16:
            continue
        cells.setdefault((f[0], f[1]), {}).setdefault(f[2], []).append(derive(f))

    head = ["workers", "case", "server", "req/s", "MB/s", "p50", "p99",
            f"CPU {US}/req", f"client {US}/req", "barehttpd / best peer", "errors"]
    rows = []
    for (workers, case), by_server in cells.items():
        med = {s: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
               for s, runs in by_server.items()}
        errs = {s: sum(r["errs"] for r in runs) for s, runs in by_server.items()}
        peers = [s for s in med if s != "barehttpd"]
        for s, m in med.items():
            ratio = ""
            if s == "barehttpd" and peers:
                best_rps = max(med[p]["rps"] for p in peers)
                best_cpu = min(med[p]["cpu"] for p in peers)
                best_all = min(med[p]["cpu"] + med[p]["ccpu"] for p in peers)
                ratio = (f"req/s {m['rps'] / best_rps:.2f}x, CPU {m['cpu'] / best_cpu:.2f}x,"
                         f" with client {(m['cpu'] + m['ccpu']) / best_all:.2f}x")
            rows.append([workers, case, s, f"{m['rps']:,.0f}", f"{m['mbs']:,.1f}",
                         fmt_lat(m["p50"]), fmt_lat(m["p99"]), f"{m['cpu']:.2f}",
                         f"{m['ccpu']:.2f}", ratio,
                         str(errs[s]) if errs[s] else ""])
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    right = {3, 4, 5, 6, 7, 8}

    def show(r):
        cols = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        print("  ".join(cols).rstrip())

    show(head)
    show(["-" * w for w in widths])
    last = None
    for r in rows:
        if last is not None and (r[0], r[1]) != last:
            print()
        last = (r[0], r[1])
        show(r)
    print()
    print("req/s higher is better; CPU is the servers' user+system time per request (lower is"
          " better), client\nthat of wrk; ratios: barehttpd's req/s over the best peer's, its"
          " CPU over the thriftiest\npeer's, and server plus client over the thriftiest peer's"
          " (over loopback the TCP work of a\ntransfer is charged to whichever side sends, so"
          " a server that leaves its sending to the\nclient's ACKs looks cheaper than it is).")


if __name__ == "__main__":
    main(sys.argv[1])
