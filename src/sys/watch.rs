//! Change notification for cached files: watches on the directories that hold them (inotify
//! on Linux, EVFILT_VNODE on macOS), read through one descriptor the worker polls.
//!
//! Both backends give the same `Watcher` and `Change`; what each sees is in its own file
//! (`watch/inotify.rs`, `watch/kqueue.rs`).

#[cfg(target_os = "linux")]
mod inotify;
#[cfg(target_os = "linux")]
pub use inotify::Watcher;

#[cfg(target_os = "macos")]
mod kqueue;
#[cfg(target_os = "macos")]
pub use kqueue::Watcher;

/// What a drained event says.
pub enum Change {
    /// Something changed in the directory watched as `wd`.
    Dir(i32),
    /// Events were lost: everything must be considered changed.
    Overflow,
}
