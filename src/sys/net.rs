//! Sockets: listening (or taking the listeners systemd passed), accepting, reading, writing
//! and sending files.
//!
//! On macOS (functions marked `cfg(target_os = "macos")`):
//! - There is no SOCK_NONBLOCK/SOCK_CLOEXEC and no accept4: a socket is made, or accepted,
//!   then marked close-on-exec with fcntl and non-blocking with ioctl(FIONBIO). A CGI program
//!   started by another worker between the two calls can inherit the socket; it then holds
//!   the connection open until it exits (bounded by `--cgi-timeout`), nothing worse.
//! - There is no MSG_NOSIGNAL: every socket gets SO_NOSIGPIPE, so a peer that vanishes gives
//!   EPIPE and no signal, even were SIGPIPE not ignored (`signal.rs`).
//! - There is no MSG_MORE: a response head goes in its own send, and with TCP_NODELAY on it
//!   may leave in its own segment ahead of the body. TCP_NOPUSH is not used: Darwin holds
//!   corked data until the option is cleared, which costs two more syscalls per response.
//! - sendfile(2) takes the file first and the socket second, and reports how much it sent
//!   through its length argument, also when it fails with EAGAIN part way.

use super::{AsFd, AsRawFd, OwnedFd, Result};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SendFlags, Shutdown, SocketType, sockopt};
use std::io::IoSlice;
use std::net::SocketAddr;

/// A new TCP socket, non-blocking and close-on-exec.
#[cfg(target_os = "linux")]
fn stream_socket(family: AddressFamily) -> Result<OwnedFd> {
    use rustix::net::{SocketFlags, socket_with};
    traced!(
        "socket",
        ("{family:?}, SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC, 0"),
        socket_with(
            family,
            SocketType::STREAM,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None
        )
    )
    .map(OwnedFd::new)
}

/// A new TCP socket, non-blocking, close-on-exec, and never raising SIGPIPE.
#[cfg(target_os = "macos")]
fn stream_socket(family: AddressFamily) -> Result<OwnedFd> {
    let fd = traced!(
        "socket",
        ("{family:?}, SOCK_STREAM, 0"),
        rustix::net::socket(family, SocketType::STREAM, None)
    )
    .map(OwnedFd::new)?;
    prepare(&fd)?;
    Ok(fd)
}

/// What macOS cannot ask for when a socket is made or accepted: close-on-exec, non-blocking,
/// and EPIPE instead of SIGPIPE.
#[cfg(target_os = "macos")]
fn prepare(fd: &OwnedFd) -> Result<()> {
    let raw = fd.as_fd().as_raw_fd();
    traced!(
        "fcntl",
        ("{raw}, F_SETFD, FD_CLOEXEC"),
        rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC)
    )?;
    super::set_nonblocking(fd)?;
    traced!(
        "setsockopt",
        ("{raw}, SOL_SOCKET, SO_NOSIGPIPE, 1"),
        sockopt::set_socket_nosigpipe(fd, true)
    )
}

/// A connected pair of local stream sockets (AF_UNIX), non-blocking and close-on-exec: a
/// socket with a peer in the same process, for testing the layers that drive a connection.
#[cfg(target_os = "linux")]
pub fn socketpair_stream() -> Result<(OwnedFd, OwnedFd)> {
    use rustix::net::{SocketFlags, socketpair};
    let mut pair = None;
    traced!(
        "socketpair",
        (
            "AF_UNIX, SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC, 0, {}",
            pair_shown(&pair)
        ),
        socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None
        )
        .map(|p| pair = Some(p))
    )?;
    let (a, b) = pair.expect("socketpair succeeded");
    Ok((OwnedFd::new(a), OwnedFd::new(b)))
}

/// A connected pair of local stream sockets (AF_UNIX), non-blocking, close-on-exec and
/// never raising SIGPIPE, as `prepare` makes every socket here.
#[cfg(target_os = "macos")]
pub fn socketpair_stream() -> Result<(OwnedFd, OwnedFd)> {
    use rustix::net::{SocketFlags, socketpair};
    let mut pair = None;
    traced!(
        "socketpair",
        ("AF_UNIX, SOCK_STREAM, 0, {}", pair_shown(&pair)),
        socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::empty(),
            None
        )
        .map(|p| pair = Some(p))
    )?;
    let (a, b) = pair.expect("socketpair succeeded");
    let (a, b) = (OwnedFd::new(a), OwnedFd::new(b));
    prepare(&a)?;
    prepare(&b)?;
    Ok((a, b))
}

/// The descriptors socketpair gave, as strace shows them: `[3, 4]`.
fn pair_shown(pair: &Option<(rustix::fd::OwnedFd, rustix::fd::OwnedFd)>) -> String {
    pair.as_ref().map_or_else(
        || "NULL".to_string(),
        |(a, b)| format!("[{}, {}]", a.as_raw_fd(), b.as_raw_fd()),
    )
}

/// Open a listening TCP socket on `addr` (non-blocking, close-on-exec). IPv6 sockets are
/// IPv6-only, so `[::]:P` and `0.0.0.0:P` can both be given.
pub fn listen(addr: SocketAddr, backlog: i32) -> Result<OwnedFd> {
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let fd = stream_socket(family)?;
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
    tune_listener(&fd)?;
    traced!("bind", ("{raw}, {addr}"), rustix::net::bind(&fd, &addr))?;
    traced!(
        "listen",
        ("{raw}, {backlog}"),
        rustix::net::listen(&fd, backlog)
    )?;
    Ok(fd)
}

/// The TCP options every listener gets, whether bound here or passed by systemd.
#[cfg_attr(not(target_os = "linux"), allow(unused_variables))]
fn tune_listener(fd: &OwnedFd) -> Result<()> {
    #[cfg(target_os = "linux")]
    let raw = fd.as_fd().as_raw_fd();
    // Linux copies TCP options from the listener to every socket it accepts, so this costs
    // nothing per connection: Nagle off (a response's last segment must not wait for a
    // delayed ACK).
    #[cfg(target_os = "linux")]
    traced!(
        "setsockopt",
        ("{raw}, IPPROTO_TCP, TCP_NODELAY, 1"),
        sockopt::set_tcp_nodelay(fd, true)
    )?;
    // And a low-water mark for unsent bytes: a write stops, and EPOLLOUT waits, while more
    // than NOTSENT_LOWAT lies in the socket not yet handed to TCP. Sent but unacknowledged
    // bytes do not count, so a long fat path still fills its window. Without it a large file
    // fills the send buffer (megabytes) and the rest goes out from the peer's ACK processing,
    // on the peer's CPU: over loopback the client then spends a quarter of its time sending
    // our data. 8 MiB file, 4 connections, 1 worker: 2.7-3.1 GB/s without, 3.5-3.8 GB/s with
    // 16-128 KiB (lighttpd, which writes 256 KiB per connection per epoll round, 3.4-3.8).
    // Darwin has the option too, but the libc crate does not name it there.
    #[cfg(target_os = "linux")]
    tcp_option(
        fd,
        libc::TCP_NOTSENT_LOWAT,
        "TCP_NOTSENT_LOWAT",
        NOTSENT_LOWAT,
    )?;
    // And a connection is handed to accept() only once its first bytes have come (or, for a
    // client that connects and says nothing, after DEFER_ACCEPT_S and one more SYN-ACK).
    // The handshake's last ACK then wakes nobody: one wake-up per connection instead of two,
    // and the read at accept always finds the request. The client's own CPU is spared the
    // wake-up too, and over loopback that is what limits new connections per second: 23.9k
    // requests/s without keep-alive, against 21.5k without the option (nginx 21-22k).
    #[cfg(target_os = "linux")]
    tcp_option(
        fd,
        libc::TCP_DEFER_ACCEPT,
        "TCP_DEFER_ACCEPT",
        DEFER_ACCEPT_S,
    )?;
    Ok(())
}

/// Take descriptor `raw`, passed by the service manager (systemd socket activation), as a
/// listener: it must be an open, listening TCP stream socket. It is made close-on-exec (a
/// CGI program must not inherit it; systemd passes it without the flag) and non-blocking,
/// and gets the options `listen` gives its own sockets. The error says what it is instead.
#[cfg(feature = "ops")]
pub fn adopt_listener(raw: i32) -> core::result::Result<(OwnedFd, SocketAddr), String> {
    use rustix::fd::FromRawFd;
    let open = traced!("fcntl", ("{raw}, F_GETFD"), {
        // SAFETY: fcntl(F_GETFD) on a descriptor number only reads the descriptor table; on
        // a number that is not open it fails with EBADF.
        let rc = unsafe { libc::fcntl(raw, libc::F_GETFD) };
        if rc >= 0 {
            Ok(())
        } else {
            Err(super::last_errno())
        }
    });
    if raw < 0 || open.is_err() {
        return Err("is not open".into());
    }
    // SAFETY: the descriptor is open (above) and owned by nothing else in this process: it
    // was inherited, and `Server::bind` takes each passed descriptor once, before the server
    // opens anything of its own.
    let fd = OwnedFd::new(unsafe { rustix::fd::OwnedFd::from_raw_fd(raw) });
    let mut ty = SocketType::STREAM;
    let got = traced!(
        "getsockopt",
        ("{raw}, SOL_SOCKET, SO_TYPE"),
        sockopt::socket_type(&fd).map(|t| ty = t)
    );
    match got.map(|()| ty) {
        Err(Errno::NOTSOCK) => return Err("is not a socket".into()),
        Err(e) => return Err(format!("cannot be read: {e}")),
        Ok(t) if t != SocketType::STREAM => return Err("is not a stream socket".into()),
        Ok(_) => {}
    }
    if !is_listening(&fd) {
        return Err("is a socket that is not listening".into());
    }
    let addr = local_addr(&fd).map_err(|_| "is not a TCP socket (IPv4 or IPv6)".to_string())?;
    let setup = traced!(
        "fcntl",
        ("{raw}, F_SETFD, FD_CLOEXEC"),
        rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC)
    )
    .and_then(|()| super::set_nonblocking(&fd))
    .and_then(|()| tune_listener(&fd));
    setup.map_err(|e| format!("cannot be set up: {e}"))?;
    Ok((fd, addr))
}

/// Whether a socket listens (SO_ACCEPTCONN).
#[cfg(all(target_os = "linux", feature = "ops"))]
fn is_listening(fd: &OwnedFd) -> bool {
    let raw = fd.as_fd().as_raw_fd();
    let mut listening = false;
    let got = traced!(
        "getsockopt",
        ("{raw}, SOL_SOCKET, SO_ACCEPTCONN"),
        sockopt::socket_acceptconn(fd).map(|l| listening = l)
    );
    got.is_ok() && listening
}

/// Whether a socket listens: Darwin declares SO_ACCEPTCONN but does not answer it, so a
/// passed socket that does not listen is found out only when accept fails (EINVAL).
/// (launchd passes sockets its own way; this is for a wrapper that
/// sets LISTEN_FDS.)
#[cfg(all(target_os = "macos", feature = "ops"))]
fn is_listening(_fd: &OwnedFd) -> bool {
    true
}

/// Unsent bytes a socket may hold before it stops taking more (see `listen`).
#[cfg(target_os = "linux")]
const NOTSENT_LOWAT: u32 = 32 * 1024;

/// How long a silent new connection waits in the kernel before accept() sees it (see
/// `listen`), in seconds.
#[cfg(target_os = "linux")]
const DEFER_ACCEPT_S: u32 = 1;

/// Set an IPPROTO_TCP option whose value is an int (the ones rustix does not name).
#[cfg(target_os = "linux")]
fn tcp_option(fd: &OwnedFd, opt: libc::c_int, name: &str, value: u32) -> Result<()> {
    let raw = fd.as_fd().as_raw_fd();
    let v = value as libc::c_int;
    traced!("setsockopt", ("{raw}, IPPROTO_TCP, {name}, {value}"), {
        // SAFETY: setsockopt reads `optlen` bytes, one c_int, from the valid pointer given,
        // and keeps no pointer after the call; fd is open (borrowed from `fd`).
        let rc = unsafe {
            libc::setsockopt(
                raw,
                libc::IPPROTO_TCP,
                opt,
                (&v as *const libc::c_int).cast(),
                core::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(super::last_errno())
        }
    })
}

/// Bytes written to a socket that the peer has not yet acknowledged (SIOCOUTQ, which has
/// the value of TIOCOUTQ).
#[cfg(target_os = "linux")]
pub fn unsent(fd: impl AsFd) -> Result<u32> {
    let fd = fd.as_fd();
    let mut n: libc::c_int = 0;
    let r = traced!("ioctl", ("{}, SIOCOUTQ", fd.as_raw_fd()), {
        // SAFETY: ioctl(SIOCOUTQ) writes one c_int to the valid pointer given, which `n`
        // is; fd is open (borrowed).
        let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCOUTQ, &mut n) };
        if rc == 0 {
            Ok(())
        } else {
            Err(super::last_errno())
        }
    });
    r.map(|()| n.max(0) as u32)
}

/// Bytes written to a socket and not yet sent or acknowledged (SO_NWRITE).
#[cfg(target_os = "macos")]
pub fn unsent(fd: impl AsFd) -> Result<u32> {
    let fd = fd.as_fd();
    let mut n: libc::c_int = 0;
    let mut len = core::mem::size_of::<libc::c_int>() as libc::socklen_t;
    let r = traced!(
        "getsockopt",
        ("{}, SOL_SOCKET, SO_NWRITE", fd.as_raw_fd()),
        {
            // SAFETY: getsockopt writes at most `len` bytes (the size of a c_int) to the valid
            // c_int given and updates `len`; fd is open (borrowed).
            let rc = unsafe {
                libc::getsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_NWRITE,
                    (&mut n as *mut libc::c_int).cast(),
                    &mut len,
                )
            };
            if rc == 0 {
                Ok(())
            } else {
                Err(super::last_errno())
            }
        }
    );
    r.map(|()| n.max(0) as u32)
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
    match accept_raw(listener.as_fd()) {
        Ok((fd, peer)) => {
            let fd = OwnedFd::new(fd);
            // A socket that cannot be set up is dropped (Darwin's setsockopt says EINVAL once
            // the peer has reset): to the caller, the connection died in the backlog.
            #[cfg(target_os = "macos")]
            {
                prepare(&fd).map_err(|_| Errno::CONNABORTED)?;
                let raw = fd.as_fd().as_raw_fd();
                let _ = traced!(
                    "setsockopt",
                    ("{raw}, IPPROTO_TCP, TCP_NODELAY, 1"),
                    sockopt::set_tcp_nodelay(&fd, true)
                );
            }
            Ok(Some((fd, peer.and_then(|a| SocketAddr::try_from(a).ok()))))
        }
        Err(Errno::AGAIN) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(target_os = "linux")]
fn accept_raw(
    l: super::BorrowedFd<'_>,
) -> Result<(rustix::fd::OwnedFd, Option<rustix::net::SocketAddrAny>)> {
    use rustix::net::SocketFlags;
    let mut peer = None;
    traced!(
        "accept4",
        ("{}, SOCK_CLOEXEC|SOCK_NONBLOCK", l.as_raw_fd()),
        rustix::net::acceptfrom_with(l, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC).map(
            |(fd, a)| {
                peer = a;
                fd
            }
        )
    )
    .map(|fd| (fd, peer))
}

/// The socket accepted still needs `prepare`.
#[cfg(target_os = "macos")]
fn accept_raw(
    l: super::BorrowedFd<'_>,
) -> Result<(rustix::fd::OwnedFd, Option<rustix::net::SocketAddrAny>)> {
    let mut peer = None;
    traced!(
        "accept",
        ("{}", l.as_raw_fd()),
        rustix::net::acceptfrom(l).map(|(fd, a)| {
            peer = a;
            fd
        })
    )
    .map(|fd| (fd, peer))
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

/// Read from a socket. Cheaper in the kernel than read(2) (no VFS layer).
pub fn recv(fd: impl AsFd, buf: &mut [u8]) -> Result<usize> {
    let fd = fd.as_fd();
    let len = buf.len();
    traced!(
        "recvfrom",
        ("{}, {len}", fd.as_raw_fd()),
        rustix::net::recv(fd, buf, rustix::net::RecvFlags::empty()).map(|(n, _)| n)
    )
}

/// Look at what is queued on a socket without taking it (MSG_PEEK): the PROXY protocol
/// header is read this way, so that only its own bytes are taken and what follows stays for
/// the next reader (the TLS session, or the request's read).
pub fn peek(fd: impl AsFd, buf: &mut [u8]) -> Result<usize> {
    let fd = fd.as_fd();
    let len = buf.len();
    traced!(
        "recvfrom",
        ("{}, {len}, MSG_PEEK", fd.as_raw_fd()),
        rustix::net::recv(fd, buf, rustix::net::RecvFlags::PEEK).map(|(n, _)| n)
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

/// Send one buffer. Cheaper in the kernel than a one-slice writev (no iovec to import, no
/// VFS layer): about 0.3 µs of the 7 a keep-alive request costs.
pub fn send(fd: impl AsFd, buf: &[u8]) -> Result<usize> {
    send_with(fd.as_fd(), buf, false)
}

/// Send bytes that will be followed by more (a header before a sendfile body, or the last
/// bytes before a close and its FIN), so that the kernel can put them in the same segment as
/// what follows. macOS has no MSG_MORE (see the module doc): there it is a plain send.
pub fn send_more(fd: impl AsFd, buf: &[u8]) -> Result<usize> {
    send_with(fd.as_fd(), buf, true)
}

#[cfg(target_os = "linux")]
fn send_with(fd: super::BorrowedFd<'_>, buf: &[u8], more: bool) -> Result<usize> {
    let (flags, shown) = if more {
        (
            SendFlags::MORE | SendFlags::NOSIGNAL,
            "MSG_MORE|MSG_NOSIGNAL",
        )
    } else {
        (SendFlags::NOSIGNAL, "MSG_NOSIGNAL")
    };
    traced!(
        "sendto",
        ("{}, {}, {shown}", fd.as_raw_fd(), buf.len()),
        rustix::net::send(fd, buf, flags)
    )
}

/// No MSG_NOSIGNAL either: SO_NOSIGPIPE is set on every socket.
#[cfg(target_os = "macos")]
fn send_with(fd: super::BorrowedFd<'_>, buf: &[u8], _more: bool) -> Result<usize> {
    traced!(
        "sendto",
        ("{}, {}, 0", fd.as_raw_fd(), buf.len()),
        rustix::net::send(fd, buf, SendFlags::empty())
    )
}

/// Send up to `count` bytes of `file` from `*offset` to the socket, advancing `offset`.
#[cfg(target_os = "linux")]
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

/// Send up to `count` bytes of `file` from `*offset` to the socket, advancing `offset`.
#[cfg(target_os = "macos")]
pub fn sendfile(sock: impl AsFd, file: impl AsFd, offset: &mut u64, count: usize) -> Result<usize> {
    let (sock, file) = (sock.as_fd(), file.as_fd());
    if count == 0 {
        // A length of 0 asks Darwin for the whole rest of the file.
        return Ok(0);
    }
    let at = *offset;
    let r = traced!(
        "sendfile",
        (
            "{}, {}, {at}, [{count}], NULL, 0",
            file.as_raw_fd(),
            sock.as_raw_fd()
        ),
        darwin_sendfile(file, sock, at, count)
    );
    if let Ok(n) = r {
        *offset += n as u64;
    }
    r
}

/// sendfile(2) of Darwin: `file` from `at` to `sock`, at most `count` bytes. Bytes sent
/// before an EAGAIN or EINTR are a success (the next call starts after them).
#[cfg(target_os = "macos")]
fn darwin_sendfile(
    file: super::BorrowedFd<'_>,
    sock: super::BorrowedFd<'_>,
    at: u64,
    count: usize,
) -> Result<usize> {
    let off = libc::off_t::try_from(at).map_err(|_| Errno::INVAL)?;
    let mut len = libc::off_t::try_from(count).unwrap_or(libc::off_t::MAX);
    // SAFETY: both descriptors are open for the duration of the call (borrowed); `len` is a
    // valid, writable off_t; no header/trailer vector is passed (null), and flags are 0.
    let rc = unsafe {
        libc::sendfile(
            file.as_raw_fd(),
            sock.as_raw_fd(),
            off,
            &mut len,
            core::ptr::null_mut(),
            0,
        )
    };
    let sent = usize::try_from(len).unwrap_or(0);
    if rc == 0 {
        return Ok(sent);
    }
    let e = super::last_errno();
    match e {
        Errno::AGAIN | Errno::INTR if sent > 0 => Ok(sent),
        e => Err(e),
    }
}

/// Stop reading: the peer's further writes fail (EPIPE on a Unix socket). For tests that
/// play a client who will not take an answer.
#[cfg(test)]
pub fn shutdown_read(fd: impl AsFd) {
    let _ = rustix::net::shutdown(fd.as_fd(), Shutdown::Read);
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

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn tcp_opt(fd: &OwnedFd, name: libc::c_int) -> libc::c_int {
        let mut v: libc::c_int = -1;
        let mut len = core::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes to the valid c_int given; fd is open.
        let r = unsafe {
            libc::getsockopt(
                fd.as_fd().as_raw_fd(),
                libc::IPPROTO_TCP,
                name,
                (&mut v as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(r, 0, "getsockopt({name})");
        v
    }

    fn accept_within(l: &OwnedFd, ms: u64) -> Option<OwnedFd> {
        let end = std::time::Instant::now() + std::time::Duration::from_millis(ms);
        while std::time::Instant::now() < end {
            if let Some((fd, _)) = accept(l).unwrap() {
                return Some(fd);
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        None
    }

    /// The options set once on the listener reach every accepted socket: the server counts
    /// on it to spend no syscall per connection on them. And a connection reaches accept()
    /// when its first bytes come, not before.
    #[test]
    fn accepted_sockets_inherit_the_listeners_tcp_options() {
        use std::io::Write;
        for addr in ["127.0.0.1:0", "[::1]:0"] {
            let Ok(l) = listen(addr.parse().unwrap(), 16) else {
                assert!(addr.starts_with('['), "cannot listen on {addr}");
                continue; // no IPv6 on this machine
            };
            let mut client = std::net::TcpStream::connect(local_addr(&l).unwrap()).unwrap();
            assert!(
                accept_within(&l, 200).is_none(),
                "{addr}: a silent connection was handed to accept()"
            );
            client.write_all(b"GET").unwrap();
            let fd = accept_within(&l, 2000).expect("the connection was accepted once it spoke");
            assert_eq!(tcp_opt(&fd, libc::TCP_NODELAY), 1, "{addr}");
            assert_eq!(
                tcp_opt(&fd, libc::TCP_NOTSENT_LOWAT),
                NOTSENT_LOWAT as libc::c_int,
                "{addr}"
            );
        }
    }
}

/// Whether a write that took fewer bytes than offered means the socket's send queue is full,
/// so that trying again at once would only answer EAGAIN. On Linux it does for TCP (past
/// TCP_NOTSENT_LOWAT as well) and Unix stream sockets, and a writable edge follows when room
/// frees. Darwin's sendfile also returns short when a signal interrupts it, with room left
/// and no new edge to come: there the write is tried again.
#[cfg(target_os = "linux")]
pub const SHORT_WRITE_MEANS_FULL: bool = true;
#[cfg(target_os = "macos")]
pub const SHORT_WRITE_MEANS_FULL: bool = false;

#[cfg(test)]
mod pair_tests {
    use super::*;

    #[test]
    fn socketpair_stream_is_connected_non_blocking_and_close_on_exec() {
        let (a, b) = socketpair_stream().unwrap();
        for fd in [&a, &b] {
            let flags = rustix::io::fcntl_getfd(fd).unwrap();
            assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
            let status = rustix::fs::fcntl_getfl(fd).unwrap();
            assert!(status.contains(rustix::fs::OFlags::NONBLOCK));
        }
        let mut buf = [0u8; 16];
        // Nothing sent yet: a non-blocking read says so instead of waiting.
        assert_eq!(recv(&b, &mut buf), Err(Errno::AGAIN));
        assert_eq!(send(&a, b"ping").unwrap(), 4);
        assert_eq!(recv(&b, &mut buf).unwrap(), 4);
        assert_eq!(&buf[..4], b"ping");
        assert_eq!(
            writev(&b, &[IoSlice::new(b"po"), IoSlice::new(b"ng")]).unwrap(),
            4
        );
        assert_eq!(read(&a, &mut buf).unwrap(), 4);
        assert_eq!(&buf[..4], b"pong");
        // A closed peer is the end of the stream, and writing to it is EPIPE, not SIGPIPE.
        drop(a);
        assert_eq!(recv(&b, &mut buf).unwrap(), 0);
        assert_eq!(send(&b, b"x"), Err(Errno::PIPE));
    }
}
