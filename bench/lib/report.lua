-- wrk script: after the run, print one machine-readable line (run.sh parses it).
-- RESULT requests bytes duration_us p50_us p99_us err_connect err_read err_write err_status err_timeout
-- The percentiles come from the same latency histogram that `wrk --latency` prints.
done = function(s, latency, requests)
  local e = s.errors
  io.write(string.format("RESULT %d %d %d %.0f %.0f %d %d %d %d %d\n",
    s.requests, s.bytes, s.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
