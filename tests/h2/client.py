"""An HTTP/2 client for tests/http2.rs, on Python's `h2` (sans-IO) over a real socket.

Reads a JSON plan on stdin, runs it on one connection, and prints a JSON report:
  {"port": N, "tls": bool, "ca": path, "prior": true,
   "window": initial stream window we announce (default 65535),
   "requests": [{"method": "GET", "path": "/x", "headers": [[n, v]], "body": "text",
                 "body_len": n (a body of n bytes of b"x" instead), "out": file for the body,
                 "wait_100": true (send the body only after an interim 100)}]}
All requests are sent at once (multiplexed). Report, as lines: "alpn A", "goaway CODE|-",
then per request "resp STATUS BODY_LEN RESET_CODE|-" followed by its fields as "h NAME VALUE",
its interim responses' statuses as "i STATUS", and a body of at most 4 KiB as "b HEX".
"""
import json, socket, ssl, sys
import h2.config, h2.connection, h2.events, h2.exceptions, h2.settings

plan = json.load(sys.stdin)
raw = socket.create_connection(("127.0.0.1", plan["port"]), timeout=20)
alpn = None
if plan.get("tls"):
    ctx = ssl.create_default_context(cafile=plan["ca"])
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    raw = ctx.wrap_socket(raw, server_hostname="localhost")
    alpn = raw.selected_alpn_protocol()
# Malformed requests are sent as asked: the server is what is tested.
conn = h2.connection.H2Connection(h2.config.H2Configuration(
    client_side=True, validate_outbound_headers=False, normalize_outbound_headers=False))
window = plan.get("window", 65535)
conn.local_settings = h2.settings.Settings(client=True, initial_values={
    h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window,
    h2.settings.SettingCodes.ENABLE_PUSH: 0})
conn.initiate_connection()
raw.sendall(conn.data_to_send())
reqs = plan["requests"]
by_id = {}
for i, r in enumerate(reqs):
    sid = conn.get_next_available_stream_id()
    by_id[sid] = i
    body = r.get("body", "").encode()
    if "body_len" in r:
        body = b"x" * r["body_len"]
    hdrs = [(":method", r.get("method", "GET")), (":path", r["path"]),
            (":scheme", "https" if plan.get("tls") else "http"), (":authority", "localhost")]
    hdrs += [tuple(h) for h in r.get("headers", [])]
    conn.send_headers(sid, hdrs, end_stream=not body)
    r["_left"] = body
    r["_sid"] = sid
    r["_held"] = bool(body) and r.get("wait_100", False)
raw.sendall(conn.data_to_send())
resp = [{"status": None, "headers": [], "len": 0, "reset": None, "_done": False, "interim": [],
         "body": b""} for _ in reqs]
outs = [open(r["out"], "wb") if r.get("out") else None for r in reqs]
goaway = None

def push_bodies():
    for r in reqs:
        try:
            while r["_left"] and not r["_held"]:
                room = min(conn.local_flow_control_window(r["_sid"]), conn.max_outbound_frame_size)
                if room <= 0:
                    break
                piece, r["_left"] = r["_left"][:room], r["_left"][room:]
                conn.send_data(r["_sid"], piece, end_stream=not r["_left"])
        except h2.exceptions.StreamClosedError:
            # The server answered and reset the stream: the rest is not wanted.
            r["_left"] = b""

push_bodies()
raw.sendall(conn.data_to_send())
while not all(x["_done"] for x in resp):
    try:
        data = raw.recv(65536)
    except (ConnectionResetError, ssl.SSLError, socket.timeout):
        data = b""
    if not data:
        break
    for e in conn.receive_data(data):
        if isinstance(e, h2.events.InformationalResponseReceived):
            i = by_id[e.stream_id]
            resp[i]["interim"].append(int(dict(e.headers)[b":status"]))
            reqs[i]["_held"] = False
            push_bodies()
        elif isinstance(e, h2.events.ResponseReceived):
            x = resp[by_id[e.stream_id]]
            hs = [[n.decode(), v.decode()] for n, v in e.headers]
            x["headers"] = hs
            x["status"] = int(dict(hs)[":status"])
        elif isinstance(e, h2.events.DataReceived):
            i = by_id[e.stream_id]
            resp[i]["len"] += len(e.data)
            if len(resp[i]["body"]) < 4096:
                resp[i]["body"] += e.data
            if outs[i]:
                outs[i].write(e.data)
            conn.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
        elif isinstance(e, h2.events.StreamEnded):
            resp[by_id[e.stream_id]]["_done"] = True
        elif isinstance(e, h2.events.StreamReset):
            if e.stream_id in by_id:
                resp[by_id[e.stream_id]]["reset"] = int(e.error_code)
                resp[by_id[e.stream_id]]["_done"] = True
        elif isinstance(e, h2.events.ConnectionTerminated):
            goaway = int(e.error_code)
        elif isinstance(e, h2.events.WindowUpdated):
            push_bodies()
    raw.sendall(conn.data_to_send())
for f in outs:
    if f:
        f.close()
print("alpn", alpn)
print("goaway", "-" if goaway is None else goaway)
for x in resp:
    print("resp", x["status"], x["len"], "-" if x["reset"] is None else x["reset"])
    for n, v in x["headers"]:
        print("h", n, v)
    for s in x["interim"]:
        print("i", s)
    if x["body"] and x["len"] <= 4096:
        print("b", x["body"].hex())
