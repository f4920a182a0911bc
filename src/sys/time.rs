//! Clocks. Both are read through the vDSO (Linux) or the commpage (macOS), so they cost no
//! kernel entry.

use rustix::time::{ClockId, clock_gettime};

/// Milliseconds on a monotonic clock (for deadlines).
pub fn monotonic_ms() -> u64 {
    let t = clock_gettime(ClockId::Monotonic);
    t.tv_sec as u64 * 1000 + t.tv_nsec as u64 / 1_000_000
}

/// Seconds since the Unix epoch (for Date headers and the access log).
pub fn unix_secs() -> u64 {
    clock_gettime(ClockId::Realtime).tv_sec as u64
}
