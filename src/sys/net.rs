//! Sockets: listening, accepting, reading, writing and sending files.

use super::{AsFd, OwnedFd, Result};
use rustix::io::Errno;
use rustix::net::{
    AddressFamily, SendFlags, Shutdown, SocketFlags, SocketType, socket_with, sockopt,
};
use std::io::IoSlice;
use std::net::SocketAddr;

/// Open a listening TCP socket on `addr` (non-blocking, close-on-exec). IPv6 sockets are
/// IPv6-only, so `[::]:P` and `0.0.0.0:P` can both be given.
pub fn listen(addr: SocketAddr, backlog: i32) -> Result<OwnedFd> {
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let fd = socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?;
    sockopt::set_socket_reuseaddr(&fd, true)?;
    if addr.is_ipv6() {
        sockopt::set_ipv6_v6only(&fd, true)?;
    }
    rustix::net::bind(&fd, &addr)?;
    rustix::net::listen(&fd, backlog)?;
    Ok(fd)
}

/// The address a socket is bound to (to learn an ephemeral port).
pub fn local_addr(fd: impl AsFd) -> Result<SocketAddr> {
    let a = rustix::net::getsockname(fd)?;
    SocketAddr::try_from(a).map_err(|_| Errno::AFNOSUPPORT)
}

/// Accept one connection, non-blocking and close-on-exec, with Nagle's algorithm off (a
/// response's last segment must not wait for the peer's delayed ACK). `Ok(None)` when no
/// connection is waiting.
pub fn accept(listener: impl AsFd) -> Result<Option<(OwnedFd, Option<SocketAddr>)>> {
    match rustix::net::acceptfrom_with(listener, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC) {
        Ok((fd, addr)) => {
            let _ = sockopt::set_tcp_nodelay(&fd, true);
            Ok(Some((fd, addr.and_then(|a| SocketAddr::try_from(a).ok()))))
        }
        Err(Errno::AGAIN) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Read into `buf`; `Ok(0)` is end of stream, `Err(AGAIN)` means nothing is there now.
pub fn read(fd: impl AsFd, buf: &mut [u8]) -> Result<usize> {
    rustix::io::read(fd, buf)
}

/// Write several slices in one call.
pub fn writev(fd: impl AsFd, bufs: &[IoSlice<'_>]) -> Result<usize> {
    rustix::io::writev(fd, bufs)
}

/// Send bytes that will be followed by more (a header before a sendfile body), so that the
/// kernel can put them in the same segment as what follows.
pub fn send_more(fd: impl AsFd, buf: &[u8]) -> Result<usize> {
    rustix::net::send(fd, buf, SendFlags::MORE | SendFlags::NOSIGNAL)
}

/// Send up to `count` bytes of `file` from `*offset` to the socket, advancing `offset`.
pub fn sendfile(sock: impl AsFd, file: impl AsFd, offset: &mut u64, count: usize) -> Result<usize> {
    rustix::fs::sendfile(sock, file, Some(offset), count)
}

/// Stop sending (FIN) while still reading what the peer sends.
pub fn shutdown_write(fd: impl AsFd) {
    let _ = rustix::net::shutdown(fd, Shutdown::Write);
}

/// Stop a listening socket from taking new connections.
pub fn shutdown_listener(fd: impl AsFd) {
    let _ = rustix::net::shutdown(fd, Shutdown::Both);
}
