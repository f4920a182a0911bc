//! Sockets: listening, accepting, reading, writing and sending files.

use super::{AsFd, AsRawFd, OwnedFd, Result};
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
    let fd = traced!(
        "socket",
        ("{family:?}, SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC, 0"),
        socket_with(
            family,
            SocketType::STREAM,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None
        )
    )?;
    let fd = OwnedFd::new(fd);
    let raw = fd.as_fd().as_raw_fd();
    traced!(
        "setsockopt",
        ("{raw}, SOL_SOCKET, SO_REUSEADDR, 1"),
        sockopt::set_socket_reuseaddr(&fd, true)
    )?;
    if addr.is_ipv6() {
        traced!(
            "setsockopt",
            ("{raw}, IPPROTO_IPV6, IPV6_V6ONLY, 1"),
            sockopt::set_ipv6_v6only(&fd, true)
        )?;
    }
    traced!("bind", ("{raw}, {addr}"), rustix::net::bind(&fd, &addr))?;
    traced!(
        "listen",
        ("{raw}, {backlog}"),
        rustix::net::listen(&fd, backlog)
    )?;
    Ok(fd)
}

/// The address a socket is bound to (to learn an ephemeral port).
pub fn local_addr(fd: impl AsFd) -> Result<SocketAddr> {
    let fd = fd.as_fd();
    let mut addr = None;
    traced!(
        "getsockname",
        ("{}", fd.as_raw_fd()),
        rustix::net::getsockname(fd).map(|a| {
            addr = Some(a);
        })
    )?;
    let a = addr.ok_or(Errno::INVAL)?;
    SocketAddr::try_from(a).map_err(|_| Errno::AFNOSUPPORT)
}

/// Accept one connection, non-blocking and close-on-exec, with Nagle's algorithm off (a
/// response's last segment must not wait for the peer's delayed ACK). `Ok(None)` when no
/// connection is waiting.
pub fn accept(listener: impl AsFd) -> Result<Option<(OwnedFd, Option<SocketAddr>)>> {
    let l = listener.as_fd();
    let mut peer = None;
    let r = traced!(
        "accept4",
        ("{}, SOCK_CLOEXEC|SOCK_NONBLOCK", l.as_raw_fd()),
        rustix::net::acceptfrom_with(l, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC).map(
            |(fd, a)| {
                peer = a;
                fd
            }
        )
    );
    match r {
        Ok(fd) => {
            let fd = OwnedFd::new(fd);
            let raw = fd.as_fd().as_raw_fd();
            let _ = traced!(
                "setsockopt",
                ("{raw}, IPPROTO_TCP, TCP_NODELAY, 1"),
                sockopt::set_tcp_nodelay(&fd, true)
            );
            Ok(Some((fd, peer.and_then(|a| SocketAddr::try_from(a).ok()))))
        }
        Err(Errno::AGAIN) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Read into `buf`; `Ok(0)` is end of stream, `Err(AGAIN)` means nothing is there now.
pub fn read(fd: impl AsFd, buf: &mut [u8]) -> Result<usize> {
    let fd = fd.as_fd();
    let len = buf.len();
    traced!(
        "read",
        ("{}, {len}", fd.as_raw_fd()),
        rustix::io::read(fd, buf)
    )
}

/// Write several slices in one call.
pub fn writev(fd: impl AsFd, bufs: &[IoSlice<'_>]) -> Result<usize> {
    let fd = fd.as_fd();
    traced!(
        "writev",
        (
            "{}, {:?}",
            fd.as_raw_fd(),
            bufs.iter().map(|b| b.len()).collect::<Vec<_>>()
        ),
        rustix::io::writev(fd, bufs)
    )
}

/// Send bytes that will be followed by more (a header before a sendfile body), so that the
/// kernel can put them in the same segment as what follows.
pub fn send_more(fd: impl AsFd, buf: &[u8]) -> Result<usize> {
    let fd = fd.as_fd();
    traced!(
        "sendto",
        ("{}, {}, MSG_MORE|MSG_NOSIGNAL", fd.as_raw_fd(), buf.len()),
        rustix::net::send(fd, buf, SendFlags::MORE | SendFlags::NOSIGNAL)
    )
}

/// Send up to `count` bytes of `file` from `*offset` to the socket, advancing `offset`.
pub fn sendfile(sock: impl AsFd, file: impl AsFd, offset: &mut u64, count: usize) -> Result<usize> {
    let (sock, file) = (sock.as_fd(), file.as_fd());
    let at = *offset;
    traced!(
        "sendfile",
        (
            "{}, {}, [{at}], {count}",
            sock.as_raw_fd(),
            file.as_raw_fd()
        ),
        rustix::fs::sendfile(sock, file, Some(offset), count)
    )
}

/// Stop sending (FIN) while still reading what the peer sends.
pub fn shutdown_write(fd: impl AsFd) {
    let fd = fd.as_fd();
    let _ = traced!(
        "shutdown",
        ("{}, SHUT_WR", fd.as_raw_fd()),
        rustix::net::shutdown(fd, Shutdown::Write)
    );
}

/// Stop a listening socket from taking new connections.
pub fn shutdown_listener(fd: impl AsFd) {
    let fd = fd.as_fd();
    let _ = traced!(
        "shutdown",
        ("{}, SHUT_RDWR", fd.as_raw_fd()),
        rustix::net::shutdown(fd, Shutdown::Both)
    );
}
