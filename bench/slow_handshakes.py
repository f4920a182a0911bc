#!/usr/bin/env python3
"""slow_handshakes.py HOST:PORT CAFILE [CONNS] [SECONDS]: hold CONNS TLS connections
that send their ClientHello a byte every few seconds (slowloris for handshakes), and
meanwhile time a real HTTPS request twice a second. Prints the worst latency and how many
probes failed or took over 3 s, and how many slow connections the server closed.
Loopback only. Default: 1100 connections for 20 s."""
import socket, ssl, sys, time

addr = sys.argv[1]
host, port = addr.rsplit(":", 1)
assert host.startswith("127.") or host in ("localhost", "[::1]"), "loopback only"
port = int(port)
cafile = sys.argv[2]
conns = int(sys.argv[3]) if len(sys.argv) > 3 else 1100
seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 20
# The start of a real ClientHello record, dripped one byte at a time.
hello = bytes([22, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3]) + bytes(range(32))

slow = []
for _ in range(conns):
    s = socket.socket()
    s.setblocking(True)
    s.connect((host, port))
    s.setblocking(False)
    slow.append([s, 0])

ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
worst, bad, probes = 0.0, 0, 0
closed = 0
end = time.time() + seconds
next_drip = time.time()
while time.time() < end:
    if time.time() >= next_drip:
        for entry in slow:
            s, i = entry
            if s is None:
                continue
            try:
                s.send(hello[i % len(hello):i % len(hello) + 1])
                entry[1] = i + 1
            except OSError:
                s.close()
                entry[0] = None
                closed += 1
        next_drip = time.time() + 3
    t = time.time()
    try:
        with socket.create_connection((host, port), timeout=3) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                got = tls.recv(100)
                ok = got.startswith(b"HTTP/1.1 200")
    except OSError:
        ok = False
    took = time.time() - t
    probes += 1
    worst = max(worst, took)
    if not ok or took > 3:
        bad += 1
    time.sleep(0.5)
print(f"slow handshakes={conns} seconds={seconds:.0f} probes={probes} failed_or_over_3s={bad} "
      f"worst_ms={worst*1000:.1f} slow_closed_by_server={closed}")
