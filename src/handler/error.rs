//! The one error type of the handlers, and the one place where an error becomes an HTTP
//! status: `Error::status`. Every handler returns `Result<_, Error>`; the router
//! (`handler::dispatch`) or the upload's commit writes the reply from it once
//! (`Reply::fail`), with the header fields some statuses need (Allow, WWW-Authenticate,
//! Retry-After).
//!
//! It owns the mapping from an OS error (an `Errno` from `sys`) to a status, so that a GET,
//! a PUT, a DELETE, a listing and a CGI lookup that meet the same errno answer the same.
//! Where the same errno must answer differently, the difference is a variant naming the
//! context (`Parent`, `Spawn`), never a second mapping. It does not write replies and knows
//! nothing of requests.

use crate::sys::Errno;

/// Why a handler did not answer with what was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The OS refused an operation on the name the request gave: open, stat, read a
    /// directory, create, write, fsync, rename, unlink.
    Os(Errno),
    /// The directory a PUT would create its file in could not be opened. RFC 9110 §9.3.4:
    /// intermediate directories are never created, so one that is absent is a conflict the
    /// client must resolve (409), where the same errno for the target itself is a 404.
    Parent(Errno),
    /// A CGI program that exists could not be started (fork, pipes, execve): a server
    /// fault, unless resources ran out or the program may not be run.
    Spawn(Errno),
    /// 400: a target or name the server cannot take (a NUL byte in a name, a partial PUT).
    BadRequest,
    /// 401: a write without credentials (`--auth-file`): the client is asked for them.
    Unauthorized,
    /// 401: a write with wrong credentials. The connection closes after it, so that one
    /// connection cannot pipeline guess after guess.
    WrongCredentials,
    /// 429 (RFC 6585 §4): this client address failed too often lately, or has
    /// verifications waiting; Retry-After, and the connection closes.
    TooManyAttempts,
    /// 403: a name that exists but is refused (a temporary upload name, a dotfile write,
    /// the write prefix itself, a FIFO or device, a program that is not executable).
    Forbidden,
    /// 404: nothing to serve under this name.
    NotFound,
    /// 421 (RFC 9110 §15.5.20): the Host names another site than the TLS connection was
    /// made for (its SNI name); the client may retry on a connection of its own.
    Misdirected,
    /// 405: the method is not allowed here; the value is the Allow field.
    MethodNotAllowed(&'static [u8]),
    /// 409: the request conflicts with what is there (a PUT onto a directory).
    Conflict,
    /// 412: a precondition (RFC 9110 §13.1) does not hold.
    PreconditionFailed,
    /// 415: a body the method does not take (MKCOL's, RFC 4918 §9.3.1).
    UnsupportedMediaType,
    /// 502 (RFC 4918 §9.8.4): a COPY or MOVE to another server.
    BadGateway,
    /// 413: the request body is larger than `--max-body` (a PUT) or `--cgi-max-body` (a
    /// chunked body spooled for a CGI program).
    TooLarge,
    /// 500: none of the above.
    Internal,
    /// 501: a method the server does not know.
    NotImplemented,
    /// 503: too busy for now (`--cgi-max` programs already run).
    Busy,
    /// 507: no room for another resumable upload's staging file (`staging::MAX_STAGED`,
    /// `staging::MAX_STAGED_BYTES`) until one finishes or goes stale.
    Full,
    /// 423 (RFC 4918 §11.3): a write of a locked resource without the lock's token in its
    /// `If` field; the body names the `lock-token-submitted` precondition.
    Locked,
    /// 423: a LOCK that conflicts with a lock held (`no-conflicting-lock`).
    LockConflict,
    /// 503: a LOCK past `lock::MAX_LOCKS` locks held; the body says so.
    TooManyLocks,
}

impl Error {
    /// The HTTP status for this error. The errno rows (RFC 9110 §15):
    ///
    /// | errno                       | status | why                                           |
    /// |-----------------------------|--------|-----------------------------------------------|
    /// | ENOENT, ENOTDIR             | 404    | no such name (a file used as a directory too) |
    /// | EXDEV, ELOOP                | 404    | resolution left the root or met a symlink     |
    /// |                             |        | (RESOLVE_BENEATH / RESOLVE_NO_SYMLINKS): as   |
    /// |                             |        | if absent, so nothing outside is disclosed    |
    /// | ENAMETOOLONG                | 404    | a name longer than the file system allows     |
    /// |                             |        | cannot exist (GET's answer; PUT and DELETE    |
    /// |                             |        | agree)                                        |
    /// | EACCES, EPERM, EROFS, EBUSY | 403    | the OS refuses this name to the server        |
    /// | EISDIR, ENOTEMPTY, EEXIST   | 409    | the state of the target conflicts (§15.5.10)  |
    /// | EFBIG                       | 413    | larger than the file system takes a file      |
    /// | ENOSPC, EDQUOT, E2BIG       | 507    | no room left (RFC 4918 §11.5); E2BIG: no room |
    /// |                             |        | for a dead property (an extended attribute)   |
    /// | EMFILE, ENFILE, ENOMEM      | 503    | out of descriptors or memory for a moment:    |
    /// |                             |        | overload, not a fault (§15.6.4); Retry-After  |
    /// | anything else               | 500    |                                               |
    ///
    /// In context: `Parent` is 409 where the errno says the directory is absent (ENOENT,
    /// ENOTDIR, EXDEV, ELOOP), else as `Os`. `Spawn` is 503 for EMFILE, ENFILE, ENOMEM and
    /// EAGAIN (no process or descriptor to spare), 403 for EACCES and EPERM, else 500 (the
    /// program exists; that it cannot run, a missing interpreter say, is the server's fault).
    pub fn status(&self) -> u16 {
        match *self {
            Error::Os(e) => match e {
                Errno::NOENT | Errno::NOTDIR => 404,
                Errno::XDEV | Errno::LOOP => 404,
                Errno::NAMETOOLONG => 404,
                Errno::ACCESS | Errno::PERM | Errno::ROFS | Errno::BUSY => 403,
                Errno::ISDIR | Errno::NOTEMPTY | Errno::EXIST => 409,
                Errno::FBIG => 413,
                Errno::NOSPC | Errno::DQUOT | Errno::TOOBIG => 507,
                Errno::MFILE | Errno::NFILE | Errno::NOMEM => 503,
                _ => 500,
            },
            Error::Parent(Errno::NOENT | Errno::NOTDIR | Errno::XDEV | Errno::LOOP) => 409,
            Error::Parent(e) => Error::Os(e).status(),
            Error::Spawn(e) => match e {
                Errno::MFILE | Errno::NFILE | Errno::NOMEM | Errno::AGAIN => 503,
                Errno::ACCESS | Errno::PERM => 403,
                _ => 500,
            },
            Error::BadRequest => 400,
            Error::Unauthorized | Error::WrongCredentials => 401,
            Error::TooManyAttempts => 429,
            Error::Forbidden => 403,
            Error::NotFound => 404,
            Error::Misdirected => 421,
            Error::MethodNotAllowed(_) => 405,
            Error::Conflict => 409,
            Error::PreconditionFailed => 412,
            Error::TooLarge => 413,
            Error::UnsupportedMediaType => 415,
            Error::BadGateway => 502,
            Error::Internal => 500,
            Error::NotImplemented => 501,
            Error::Busy => 503,
            Error::Full => 507,
            Error::Locked | Error::LockConflict => 423,
            Error::TooManyLocks => 503,
        }
    }
}

impl From<Errno> for Error {
    fn from(e: Errno) -> Error {
        Error::Os(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_status_per_errno() {
        let os = |e| Error::Os(e).status();
        assert_eq!(os(Errno::NOENT), 404);
        assert_eq!(os(Errno::XDEV), 404);
        assert_eq!(os(Errno::LOOP), 404);
        assert_eq!(os(Errno::NAMETOOLONG), 404);
        assert_eq!(os(Errno::ACCESS), 403);
        assert_eq!(os(Errno::NOTEMPTY), 409);
        assert_eq!(os(Errno::NOSPC), 507);
        assert_eq!(os(Errno::DQUOT), 507);
        assert_eq!(os(Errno::MFILE), 503);
        assert_eq!(os(Errno::NFILE), 503);
        assert_eq!(os(Errno::IO), 500);
        // The context changes the answer only where the variant says so.
        assert_eq!(Error::Parent(Errno::NOENT).status(), 409);
        assert_eq!(Error::Parent(Errno::XDEV).status(), 409);
        assert_eq!(Error::Parent(Errno::MFILE).status(), 503);
        assert_eq!(Error::Parent(Errno::ACCESS).status(), 403);
        assert_eq!(Error::Spawn(Errno::MFILE).status(), 503);
        assert_eq!(Error::Spawn(Errno::NOENT).status(), 500);
        assert_eq!(Error::Spawn(Errno::ACCESS).status(), 403);
    }
}
