#!/usr/bin/env python3
"""What a large directory listing costs barehttpd (review finding #5). Loopback only.

  python3 bench/listing.py BIN [BIN...]

A BIN named `nginx` or `lighttpd` is that server with its own listing (nginx's autoindex,
lighttpd's mod_dirlisting; 1 worker each, config in WORK): the same GETs, for comparison
(neither keeps a rendered listing, so each GET renders; the slow clients are left out).

For each server binary, on one directory of FILES (100,000) small files:
  - one GET of the listing, HTML then JSON, each three times: wall time, the server's CPU
    time (utime + stime of every thread, from /proc, 10 ms ticks) and the body's size;
  - RENDERS (20) GETs of the HTML listing, each after a name was added to the directory or
    removed (so no cached listing may answer): wall time, and CPU time per GET;
  - CLIENTS (60) connections that each send `GET /big/` and never read, then a GET of a
    small file sent behind them: how long it waited, the server's CPU time for all of it,
    and its RSS (VmRSS, and the peak VmHWM) while the 60 are still connected.

COUNT_ALLOC=1 with a barehttpd built with `--features count-alloc` adds the heap allocations
per render.

Env: FILES, CLIENTS (0: leave that part out), WORKERS (2), WORK (the scratch directory, kept across runs so the
files are made once; default /tmp/barehttpd-listing-bench).
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time

FILES = int(os.environ.get("FILES", "100000"))
CLIENTS = int(os.environ.get("CLIENTS", "60"))
RENDERS = int(os.environ.get("RENDERS", "20"))
WORKERS = os.environ.get("WORKERS", "2")
WORK = os.environ.get("WORK", "/tmp/barehttpd-listing-bench")
TICK = os.sysconf("SC_CLK_TCK")


def make_docroot():
    www = os.path.join(WORK, "www")
    big = os.path.join(www, "big")
    os.makedirs(big, exist_ok=True)
    with open(os.path.join(www, "hello.txt"), "w") as f:
        f.write("Hello, world\n")
    have = len(os.listdir(big))
    for i in range(have, FILES):
        with open(os.path.join(big, f"file-{i:07d}.txt"), "w") as f:
            f.write("x" * (i % 5000))
    return www


def cpu_seconds(pids):
    total = 0
    for pid in pids if isinstance(pids, list) else [pids]:
        total += _cpu_ticks(pid)
    return total / TICK


def _cpu_ticks(pid):
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total


def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) // 1024
    return -1


def start_reference(name, www):
    """nginx or lighttpd on a fixed loopback port; (process, port, pids to count CPU of)."""
    port = 29181 if name == "nginx" else 29182
    conf = os.path.join(WORK, f"{name}.conf")
    with open(conf, "w") as f:
        if name == "nginx":
            f.write(f"daemon off; master_process on; worker_processes 1; pid {WORK}/nginx.pid;\n"
                    f"error_log {WORK}/nginx-error.log;\nevents {{}}\nhttp {{ access_log off; "
                    f"server {{ listen 127.0.0.1:{port}; root {www}; autoindex on; }} }}\n")
            argv = ["nginx", "-c", conf, "-p", WORK]
        else:
            f.write(f'server.document-root = "{www}"\nserver.bind = "127.0.0.1"\n'
                    f'server.port = {port}\nserver.modules += ("mod_dirlisting")\n'
                    f'dir-listing.activate = "enable"\nserver.errorlog = "{WORK}/lighttpd-error.log"\n')
            argv = ["lighttpd", "-D", "-f", conf]
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            break
        except OSError:
            time.sleep(0.05)
    return p, port


def pids_of(p):
    """The process and its children (nginx's worker)."""
    out = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout
    return [p.pid] + [int(x) for x in out.split()]


def start(binary, www):
    if binary in ("nginx", "lighttpd"):
        return start_reference(binary, www)
    p = subprocess.Popen(
        [binary, www, "--listen", "127.0.0.1:0", "--workers", WORKERS, "--listing",
         "--access-log", "off", "--send-timeout", "300"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    line = p.stderr.readline()
    m = re.search(r"127\.0\.0\.1:(\d+)", line)
    if not m:
        p.kill()
        sys.exit(f"{binary}: no banner: {line!r}")
    return p, int(m.group(1))


def allocs(p):
    """The heap allocations so far of a barehttpd built with `--features count-alloc` (SIGUSR1
    makes it print its counters), or None when the build has no counter: only with
    COUNT_ALLOC=1, since SIGUSR1 would end any other build."""
    if not os.environ.get("COUNT_ALLOC"):
        return None
    p.send_signal(signal.SIGUSR1)
    while True:
        line = p.stderr.readline()
        if not line:
            return None
        m = re.search(r"alloc-count:.*allocs=(\d+)", line)
        if m:
            return int(m.group(1))


def get(port, path, accept="text/html"):
    """One GET on a fresh connection: (seconds until the whole body is in, body bytes)."""
    t = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: b\r\nAccept: {accept}\r\n"
              "Connection: close\r\n\r\n".encode())
    buf = bytearray()
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        buf += b
    s.close()
    head, _, body = bytes(buf).partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        sys.exit(f"GET {path}: {head[:60]!r}")
    return time.monotonic() - t, len(body)


def measure(binary, www):
    p, port = start(binary, www)
    reference = binary in ("nginx", "lighttpd")
    cpu = pids_of(p) if reference else p.pid
    print(f"== {binary}")
    try:
        for accept in ["text/html"] if reference else ["text/html", "application/json"]:
            for i in range(3):
                c0 = cpu_seconds(cpu)
                secs, n = get(port, "/big/", accept)
                c1 = cpu_seconds(cpu)
                print(f"  GET /big/ {accept:17} #{i + 1}: {secs * 1000:7.1f} ms wall, "
                      f"{(c1 - c0) * 1000:5.0f} ms server CPU, {n / 1e6:6.2f} MB body")
        # Renders after a change: a name added to the directory or removed, before each GET.
        flip = os.path.join(www, "big", "flip")
        a0 = None if reference else allocs(p)
        c0 = cpu_seconds(cpu)
        walls = []
        for i in range(RENDERS):
            if i % 2 == 0:
                open(flip, "w").close()
            else:
                os.unlink(flip)
            walls.append(get(port, "/big/")[0])
        c1 = cpu_seconds(cpu)
        a1 = None if reference else allocs(p)
        if os.path.exists(flip):
            os.unlink(flip)
        walls.sort()
        heap = ""
        if a0 is not None and a1 is not None:
            heap = f", {(a1 - a0) / RENDERS:.1f} heap allocations each"
        print(f"  GET /big/ after a change, {RENDERS} times: median {walls[len(walls) // 2] * 1000:.1f}"
              f" ms wall, {(c1 - c0) / RENDERS * 1000:.1f} ms server CPU each{heap}")
        if reference or CLIENTS == 0:
            return
        rss0 = status(p.pid, "VmRSS")
        c0 = cpu_seconds(cpu)
        slow = []
        for _ in range(CLIENTS):
            s = socket.socket()
            # A small receive window, as a client on a slow link would have.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET /big/ HTTP/1.1\r\nHost: b\r\n\r\n")
            slow.append(s)
        # Small-file GETs one after another until every queued listing is rendered (the
        # server's CPU time stops moving): the longest one waited behind the renders.
        waits = []
        last, still = -1.0, 0.0
        while still < 0.5:
            t = time.monotonic()
            get(port, "/hello.txt")
            waits.append(time.monotonic() - t)
            time.sleep(0.02)
            now = cpu_seconds(cpu)
            still = still + time.monotonic() - t if now == last else 0.0
            last = now
        c1 = cpu_seconds(cpu)
        print(f"  {CLIENTS} clients that never read: server CPU {c1 - c0:.2f} s; RSS "
              f"{rss0} MiB before, {status(p.pid, 'VmRSS')} MiB with them, peak "
              f"{status(p.pid, 'VmHWM')} MiB; GET /hello.txt meanwhile: first waited "
              f"{waits[0] * 1000:.1f} ms, longest {max(waits) * 1000:.1f} ms "
              f"({len(waits)} GETs)")
        for s in slow:
            s.close()
    finally:
        # nginx's master stops its worker on SIGTERM; SIGKILL would leave it on the port.
        if reference:
            p.terminate()
        else:
            p.kill()
        p.wait()


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    www = make_docroot()
    print(f"{FILES} files in {www}/big, {WORKERS} workers")
    for b in sys.argv[1:]:
        measure(b, www)


if __name__ == "__main__":
    main()
