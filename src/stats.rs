//! Counters for `--metrics`: one `WorkerStats` per worker, on a cache line of its own and
//! written only by that worker, summed when the page is rendered.
//!
//! Counting costs a load and a store on a line no other core writes (no locked
//! read-modify-write, nothing shared across workers on the request path); a page rendered
//! by another worker may see a count a few requests old, which is all a scrape asks.
//! It sits below `worker`, `conn` and `handler`, which all count into it, and knows nothing
//! of them.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// One worker's counters.
#[derive(Default)]
#[repr(align(64))]
pub struct WorkerStats {
    /// Responses by status class: 1xx-2xx, 3xx, 4xx, 5xx.
    pub responses: [AtomicU64; 4],
    pub bytes: AtomicU64,
    pub tls_handshakes: AtomicU64,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
}

/// Add `n` to a counter only its own worker writes: a plain load and store, since no other
/// thread can race the update.
pub fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

impl WorkerStats {
    /// One response sent (or cut short) with `bytes` of body.
    pub fn response(&self, status: u16, bytes: u64) {
        let class = usize::from(status / 100).clamp(2, 5) - 2;
        bump(&self.responses[class], 1);
        bump(&self.bytes, bytes);
    }
}

/// The metrics, in page order: name, type, help.
const METRICS: [(&str, &str, &str); 7] = [
    ("requests_total", "counter", "Responses by status class."),
    ("response_bytes_total", "counter", "Body bytes sent."),
    ("connections_open", "gauge", "Open connections."),
    ("tls_handshakes_total", "counter", "TLS handshakes."),
    ("file_cache_hits_total", "counter", "File cache hits."),
    ("file_cache_misses_total", "counter", "File cache misses."),
    ("cgi_running", "gauge", "CGI programs running."),
];
const CLASSES: [&str; 4] = [
    "{class=\"2xx\"}",
    "{class=\"3xx\"}",
    "{class=\"4xx\"}",
    "{class=\"5xx\"}",
];

/// The Prometheus text exposition format (version 0.0.4) of all workers' counters and the
/// gauges given. Written without `fmt`, which keeps the static build small.
pub fn render(all: &[WorkerStats], conns: usize, cgi_running: usize) -> Vec<u8> {
    let sum = |f: &dyn Fn(&WorkerStats) -> &AtomicU64| -> u64 {
        all.iter().map(|s| f(s).load(Relaxed)).sum()
    };
    let values = [
        sum(&|s| &s.responses[0]),
        sum(&|s| &s.responses[1]),
        sum(&|s| &s.responses[2]),
        sum(&|s| &s.responses[3]),
        sum(&|s| &s.bytes),
        conns as u64,
        sum(&|s| &s.tls_handshakes),
        sum(&|s| &s.cache_hits),
        sum(&|s| &s.cache_misses),
        cgi_running as u64,
    ];
    let mut values = values.into_iter();
    let mut out = Vec::with_capacity(2048);
    for (i, (name, kind, help)) in METRICS.into_iter().enumerate() {
        for part in [
            "# HELP barehttpd_",
            name,
            " ",
            help,
            "\n# TYPE barehttpd_",
            name,
            " ",
            kind,
            "\n",
        ] {
            out.extend_from_slice(part.as_bytes());
        }
        let labels: &[&str] = if i == 0 { &CLASSES } else { &[""] };
        for l in labels {
            for part in ["barehttpd_", name, l, " "] {
                out.extend_from_slice(part.as_bytes());
            }
            crate::http::response::push_u64(&mut out, values.next().unwrap_or(0));
            out.push(b'\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_summed_over_workers_by_class() {
        let all: Vec<WorkerStats> = (0..2).map(|_| WorkerStats::default()).collect();
        all[0].response(200, 10);
        all[1].response(404, 5);
        all[1].response(304, 0);
        all[1].response(101, 0);
        let page = String::from_utf8(render(&all, 3, 1)).unwrap();
        for line in [
            "barehttpd_requests_total{class=\"2xx\"} 2\n",
            "barehttpd_requests_total{class=\"4xx\"} 1\n",
            "barehttpd_requests_total{class=\"5xx\"} 0\n",
            "barehttpd_response_bytes_total 15\n",
            "barehttpd_connections_open 3\n",
            "barehttpd_cgi_running 1\n",
            "# TYPE barehttpd_connections_open gauge\n",
        ] {
            assert!(page.contains(line), "{line:?} in {page}");
        }
    }
}
