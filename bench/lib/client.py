#!/usr/bin/env python3
"""Exact-count HTTP/1.1 clients for bench/lean.sh. Loopback only.

  client.py load PORT PATH CONNS N [--close] [--expect STATUS] [--gzip] [--tls CAFILE]
      Opens CONNS keep-alive connections and warms each with a few requests, prints
      "ready", waits for a line on stdin, then makes exactly N requests (one in flight per
      connection), prints "done N SECONDS", waits for a line, and exits. The pauses let the
      caller attach strace or snapshot a counter around exactly those N requests. With
      --close every request uses its own connection (`Connection: close`); with --gzip
      each says `Accept-Encoding: gzip`.
  client.py idle PORT CONNS [--tls CAFILE]
      Opens CONNS connections and prints "connected"; after a line on stdin sends one
      request on each, reads the answers and prints "answered"; after another line exits.
  client.py startup PORT CMD...
      Runs CMD and prints the milliseconds from exec to the first complete 200 answer to
      GET /hello.txt, then stops CMD (SIGTERM) and waits for it.

A server that ends a keep-alive connection (nginx and lighttpd do after 1000 requests) is
reconnected and the request sent again; only complete answers are counted.

--tls CAFILE speaks HTTPS, trusting CAFILE, with SNI "localhost". Every connection makes a
full handshake (no session is offered again), and a connection counts as open once its
handshake is done.
"""
import os
import resource
import signal
import socket
import ssl
import subprocess
import sys
import time

HOST = "127.0.0.1"
# The TLS client context when --tls is given (main sets it), else None.
TLS = None


def request(port, path, close, gzip=False):
    conn = "Connection: close\r\n" if close else ""
    coding = "Accept-Encoding: gzip\r\n" if gzip else ""
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n{conn}{coding}\r\n".encode()


def read_response(sock):
    """Read one response; return (status, server_closes). Raises EOFError when the server
    closed the connection before a whole response."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length, closes = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and b"close" in value.lower():
            closes = True
    left = length - len(body)
    while left > 0:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise EOFError
        left -= len(chunk)
    return status, closes


def connect(port):
    s = socket.create_connection((HOST, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if TLS is not None:
        s = TLS.wrap_socket(s, server_hostname="localhost")
    return s


def wait_line(what):
    print(what, flush=True)
    sys.stdin.readline()


def load(port, path, conns, n, close=False, expect=200, gzip=False):
    req = request(port, path, close, gzip)
    statuses = {}

    def one_round(socks, count):
        """Send on `count` connections, then read every answer: one request in flight per
        connection. Returns the answers completed."""
        done = 0
        for i in range(count):
            if close or socks[i] is None:
                socks[i] = connect(port)
            try:
                socks[i].sendall(req)
            except OSError:
                socks[i].close()
                socks[i] = connect(port)
                socks[i].sendall(req)
        for i in range(count):
            try:
                status, closes = read_response(socks[i])
            except (EOFError, ConnectionResetError, ssl.SSLEOFError):
                socks[i].close()
                socks[i] = None
                continue
            statuses[status] = statuses.get(status, 0) + 1
            done += 1
            if closes or close:
                socks[i].close()
                socks[i] = None
        return done

    socks = [None] * conns
    for _ in range(3):
        one_round(socks, conns)
    statuses.clear()
    wait_line("ready")
    t0 = time.perf_counter()
    done = 0
    while done < n:
        done += one_round(socks, min(conns, n - done))
    secs = time.perf_counter() - t0
    wrong = {s: c for s, c in statuses.items() if s != expect}
    if wrong:
        print(f"unexpected statuses {wrong}", file=sys.stderr)
    wait_line(f"done {done} {secs:.3f}")
    for s in socks:
        if s is not None:
            s.close()
    return 1 if wrong else 0


def idle(port, conns):
    socks = []
    for _ in range(conns):
        socks.append(connect(port))
    wait_line("connected")
    req = request(port, "/hello.txt", False)
    for s in socks:
        s.sendall(req)
    bad = 0
    for s in socks:
        status, _ = read_response(s)
        bad += status != 200
    if bad:
        print(f"{bad} answers were not 200", file=sys.stderr)
    wait_line("answered")
    for s in socks:
        s.close()
    return 1 if bad else 0


def startup(port, cmd):
    req = request(port, "/hello.txt", False)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = t0 + 10
        while time.perf_counter() < deadline:
            try:
                s = socket.create_connection((HOST, port), timeout=2)
            except (ConnectionRefusedError, ConnectionResetError):
                time.sleep(0.0002)
                continue
            try:
                s.sendall(req)
                status, _ = read_response(s)
            except (EOFError, ConnectionResetError):
                status = 0
            finally:
                s.close()
            if status == 200:
                print(f"{(time.perf_counter() - t0) * 1000:.1f}")
                return 0
        print("no answer within 10 s", file=sys.stderr)
        return 1
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv):
    # Thousands of sockets: take the hard limit on descriptors.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    global TLS
    if "--tls" in argv:
        i = argv.index("--tls")
        TLS = ssl.create_default_context(cafile=argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    mode = argv[1]
    if mode == "load":
        port, path, conns, n = int(argv[2]), argv[3], int(argv[4]), int(argv[5])
        rest = argv[6:]
        expect = int(rest[rest.index("--expect") + 1]) if "--expect" in rest else 200
        return load(port, path, conns, n, "--close" in rest, expect, "--gzip" in rest)
    if mode == "idle":
        return idle(int(argv[2]), int(argv[3]))
    if mode == "startup":
        return startup(int(argv[2]), argv[3:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
