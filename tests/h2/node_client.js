// An HTTP/2 client for tests/h2_interop.rs on Node's built-in `http2` module (nghttp2 inside):
// an implementation independent of the server and of tests/h2/client.py, with control of
// the settings, windows, RST_STREAM, trailers and GOAWAY. No npm package.
//
// Reads a JSON plan on stdin, runs it on one connection, prints a JSON report on stdout.
// Plan: {"port": N, "tls": bool, "ca": PEM path, "settings": {...} (http2 settings we
//        announce), "session": {...} (more http2.connect options), "timeout_ms": N,
//        "steps": [STEP...]}
// A step runs after the previous one finished:
//   {"requests": [REQ...]}      all at once (multiplexed); waits for every one to end,
//                               or with "nowait": true, only until they are sent
//   {"wait": true}              waits for every "nowait" step before it to end
//   {"heads": true}             waits until every request sent has its answer's head
//   {"sleep_ms": N}             waits N ms
//   {"settings": {...}}         new SETTINGS mid-connection; waits for their ACK
//   {"ping": true}              a PING; waits for its ACK
//   {"window": N}               the connection's receive window set to N (WINDOW_UPDATE)
//   {"goaway": CODE}            a GOAWAY from us; then the connection is closed
//   {"signal": true}            prints "signal" and waits for a line on stdin
//                               (the test acts on the server meanwhile), then goes on
// REQ: {"method", "path", "headers": {...}, "repeat": N (N copies, each its own stream),
//       "body_len": n (a body of n bytes of a pattern: byte i is (i*7+seed)%251),
//       "seed": s, "no_length": true (no content-length: the body in pieces),
//       "piece": bytes per write (default 64 KiB), "trailers": {...} (sent after the body),
//       "rst_after": n (RST_STREAM CANCEL, without END_STREAM, once n body bytes are written),
//       "abort_after": n (RST_STREAM CANCEL once n response bytes arrived),
//       "close_after": n (destroy the whole connection once n response bytes arrived),
//       "pause_ms": n (read none of the body for n ms after the head),
//       "keep_body": true (the body in the report)}
// Report, as lines (values are JSON strings where they may hold spaces):
//   "alpn A|-", "setting NAME VALUE" per remote setting, then per request step "step",
//   followed per response by "resp STATUS|- LEN FNV RST|- ERROR|-" (FNV: FNV-1a 32 of the
//   body, hex), its fields as "h NAME VALUE", trailers as "t NAME VALUE", the body as
//   "b HEX" if asked; last "goaway CODE|-" and "error JSON|-".
'use strict';
const http2 = require('http2');
const fs = require('fs');

const out = { alpn: null, remote_settings: null, goaway: null, error: null, steps: [] };
// The plan is the first line of stdin; later lines answer "signal" steps.
const stdinLines = [];
let lineWaiter = null;
let pending = '';
let plan = null;
process.stdin.on('data', (d) => {
  pending += d;
  let nl;
  while ((nl = pending.indexOf('\n')) >= 0) {
    const line = pending.slice(0, nl);
    pending = pending.slice(nl + 1);
    if (plan === null) {
      plan = JSON.parse(line);
      start();
    } else if (lineWaiter) {
      const w = lineWaiter;
      lineWaiter = null;
      w(line);
    } else {
      stdinLines.push(line);
    }
  }
});
process.stdin.on('end', () => {
  if (lineWaiter) lineWaiter('');
});

function patternBytes(n, seed, offset) {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = ((offset + i) * 7 + seed) % 251;
  return b;
}

function fnv(h, d) {
  for (let i = 0; i < d.length; i++) h = Math.imul(h ^ d[i], 16777619) >>> 0;
  return h;
}

let finished = false;

function finish(code) {
  if (finished) return;
  finished = true;
  const lines = ['alpn ' + (out.alpn || '-')];
  for (const [k, v] of Object.entries(out.remote_settings || {})) lines.push(`setting ${k} ${v}`);
  for (const step of out.steps) {
    lines.push('step');
    for (const r of step) {
      lines.push(`resp ${r.status === null ? '-' : r.status} ${r.len} ${r.fnv.toString(16)} ` +
        `${r.rst === null ? '-' : r.rst} ${r.error === null ? '-' : r.error.replace(/ /g, '_')}`);
      for (const [k, v] of Object.entries(r.headers)) lines.push(`h ${k} ${v}`);
      for (const [k, v] of Object.entries(r.trailers || {})) lines.push(`t ${k} ${v}`);
      if (r.body !== undefined) lines.push('b ' + r.body);
    }
  }
  lines.push('goaway ' + (out.goaway === null ? '-' : out.goaway));
  lines.push('error ' + (out.error === null ? '-' : JSON.stringify(out.error)));
  process.stdout.write(lines.join('\n') + '\n', () => process.exit(code));
}

let timer = null;
let scheme = 'http';
let session = null;

function start() {
  timer = setTimeout(() => {
    out.error = 'timeout';
    finish(3);
  }, plan.timeout_ms || 20000);

  scheme = plan.tls ? 'https' : 'http';
  const opts = Object.assign({ settings: plan.settings || {} }, plan.session || {});
  if (plan.tls) {
    opts.ca = fs.readFileSync(plan.ca);
    opts.servername = 'localhost';
  }
  session = http2.connect(`${scheme}://127.0.0.1:${plan.port}`, opts);
  session.on('error', (e) => { out.error = out.error || String(e.code || e.message); });
  session.on('goaway', (code) => { out.goaway = code; });
  session.on('remoteSettings', (s) => { out.remote_settings = s; });
  session.on('connect', () => {
    if (session.socket && session.socket.alpnProtocol) out.alpn = session.socket.alpnProtocol;
  });
  session.once('connect', () => {
    run().then(() => {
      clearTimeout(timer);
      if (session.closed || session.destroyed) {
        finish(0);
        return;
      }
      session.close(() => finish(0));
      // A server that never ends the connection must not hold the report.
      setTimeout(() => finish(0), 2000);
    }, (e) => {
      out.error = String(e.stack || e);
      finish(2);
    });
  });
}

// RST_STREAM CANCEL now, the body cut short. `close` ends the body first (END_STREAM, then
// RST_STREAM), which a server must take as a whole body: the stream's native handle sends
// the RST_STREAM alone, as a browser does when an upload is cancelled.
function cancel(req) {
  const k = Object.getOwnPropertySymbols(req).find((s) => s.description === 'kHandle');
  if (k && req[k] && typeof req[k].rstStream === 'function') {
    req[k].rstStream(http2.constants.NGHTTP2_CANCEL);
    req.destroy();
  } else {
    throw new Error('no native handle to send RST_STREAM alone with');
  }
}

function request(r) {
  return new Promise((resolve) => {
    const res = { status: null, headers: {}, len: 0, fnv: 2166136261, rst: null, error: null,
      trailers: null };
    const chunks = [];
    const headers = Object.assign({ ':method': r.method || 'GET', ':path': r.path,
      ':scheme': scheme, ':authority': 'localhost' }, r.headers || {});
    const bodyLen = r.body_len || 0;
    if (bodyLen && !r.no_length && headers['content-length'] === undefined) {
      headers['content-length'] = String(bodyLen);
    }
    const ropts = { endStream: !bodyLen && !r.trailers };
    if (r.trailers) ropts.waitForTrailers = true;
    let req;
    try {
      req = session.request(headers, ropts);
    } catch (e) {
      res.error = String(e.code || e.message);
      resolve(res);
      return;
    }
    let done = false;
    const end = () => {
      if (done) return;
      done = true;
      if (r.keep_body) res.body = Buffer.concat(chunks).toString('hex');
      resolve(res);
    };
    if (r.trailers) req.on('wantTrailers', () => req.sendTrailers(r.trailers));
    heads.push(new Promise((resolve) => {
      req.once('response', resolve);
      req.once('close', resolve);
    }));
    req.on('response', (h) => {
      if (r.pause_ms) {
        // Read nothing for a while: the stream's window fills and the server must wait.
        req.pause();
        setTimeout(() => req.resume(), r.pause_ms);
      }
      res.status = h[':status'];
      for (const [k, v] of Object.entries(h)) if (k !== ':status') res.headers[k] = v;
    });
    req.on('trailers', (t) => { res.trailers = t; });
    req.on('data', (d) => {
      res.len += d.length;
      res.fnv = fnv(res.fnv, d);
      if (r.keep_body) chunks.push(d);
      if (r.abort_after !== undefined && res.len >= r.abort_after && res.rst === null) {
        req.close(http2.constants.NGHTTP2_CANCEL);
      }
      if (r.close_after !== undefined && res.len >= r.close_after) {
        session.destroy();
      }
    });
    req.on('end', end);
    req.on('close', () => {
      if (req.rstCode) res.rst = req.rstCode;
      end();
    });
    req.on('error', (e) => { res.error = String(e.code || e.message); });
    if (bodyLen) {
      const piece = r.piece || 65536;
      let sent = 0;
      const seed = r.seed || 0;
      const pump = () => {
        while (sent < bodyLen) {
          if (r.rst_after !== undefined && sent >= r.rst_after) {
            cancel(req);
            return;
          }
          const n = Math.min(piece, bodyLen - sent);
          const ok = req.write(patternBytes(n, seed, sent));
          sent += n;
          if (!ok) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    } else if (r.trailers) {
      req.end();
    }
  });
}

function waitLine() {
  return new Promise((resolve) => {
    if (stdinLines.length) resolve(stdinLines.shift());
    else lineWaiter = resolve;
  });
}

const waiting = [];
// One per request sent: settled when its answer's head came (or it closed without one).
const heads = [];

async function run() {
  for (const step of plan.steps || []) {
    if (step.requests) {
      const all = [];
      for (const r of step.requests) {
        for (let k = 0; k < (r.repeat || 1); k++) all.push(request(r));
      }
      const at = out.steps.length;
      out.steps.push([]);
      const got = Promise.all(all).then((res) => { out.steps[at] = res; });
      if (step.nowait) {
        waiting.push(got);
        // Let its HEADERS go out before the next step.
        await new Promise((resolve) => setImmediate(resolve));
      } else {
        await got;
      }
    } else if (step.wait) {
      await Promise.all(waiting.splice(0));
    } else if (step.heads) {
      await Promise.all(heads);
    } else if (step.sleep_ms) {
      await new Promise((resolve) => setTimeout(resolve, step.sleep_ms));
    } else if (step.settings) {
      await new Promise((resolve) => session.settings(step.settings, resolve));
    } else if (step.ping) {
      await new Promise((resolve) => session.ping((err) => {
        if (err) out.error = out.error || 'ping: ' + err.message;
        resolve();
      }));
    } else if (step.window !== undefined) {
      session.setLocalWindowSize(step.window);
    } else if (step.goaway !== undefined) {
      session.goaway(step.goaway);
      await new Promise((resolve) => setTimeout(resolve, 100));
    } else if (step.signal) {
      process.stdout.write('signal\n');
      await waitLine();
    }
  }
  await Promise.all(waiting);
}

