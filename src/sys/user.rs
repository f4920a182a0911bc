//! `--user`: finding a user and becoming it.
//!
//! The user is looked up in `/etc/passwd` and its groups in `/etc/group`, read here rather
//! than through libc's getpwnam: a static build has no NSS modules to ask, and a server that
//! drops root is started by a system whose service users are local. (Users known only to
//! LDAP or, on macOS, only to Directory Services cannot be named; their numbers are the
//! way to run as them, with systemd's `User=`.)
//!
//! The change goes through libc's setgroups, setgid and setuid, not rustix's: at the
//! syscall level the credentials are per thread, and libc (glibc and musl both) applies them
//! to every thread of the process, which the auth verifier threads already are by then.

use super::Errno;

/// A user to become: its ids and every group it is in (its primary group first).
#[derive(Debug, PartialEq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

/// Look `name` up in the system's files. Errors are one line for the user.
pub fn lookup(name: &str) -> Result<User, String> {
    let euid = rustix::process::geteuid().as_raw();
    if euid != 0 {
        return Err(format!(
            "--user {name}: only root can change user (this process runs as uid {euid})"
        ));
    }
    let read = |p: &str| std::fs::read_to_string(p).map_err(|e| format!("--user {name}: {p}: {e}"));
    let user = find_user(&read("/etc/passwd")?, name)
        .ok_or_else(|| format!("--user {name}: no such user in /etc/passwd"))?;
    // A system without /etc/group still has the user's primary group.
    let groups = read("/etc/group").unwrap_or_default();
    Ok(with_groups(user, &groups))
}

/// The `/etc/passwd` line of `name` (`name:password:uid:gid:gecos:home:shell`), without
/// its supplementary groups.
fn find_user(passwd: &str, name: &str) -> Option<User> {
    passwd.lines().find_map(|line| {
        let mut f = line.split(':');
        (f.next()? == name).then_some(())?;
        let _password = f.next()?;
        let uid = f.next()?.parse().ok()?;
        let gid = f.next()?.parse().ok()?;
        Some(User {
            name: name.to_string(),
            uid,
            gid,
            groups: vec![gid],
        })
    })
}

/// `user` with the groups of `/etc/group` (`name:password:gid:member,member`) that list it.
fn with_groups(mut user: User, group: &str) -> User {
    for line in group.lines() {
        let mut f = line.split(':');
        let (Some(_), Some(_), Some(gid), Some(members)) = (f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        let Ok(gid) = gid.parse::<u32>() else {
            continue;
        };
        if members.split(',').any(|m| m.trim() == user.name) && !user.groups.contains(&gid) {
            user.groups.push(gid);
        }
    }
    user
}

/// Become `user` for good: its groups, then its group, then its user id (in that order:
/// once the user id is no longer root the others cannot be changed). Checked afterwards:
/// a server that meant to drop root must not go on as root.
pub fn become_user(user: &User) -> Result<(), String> {
    let fail = |call: &str, e: Errno| format!("--user {}: {call}: {e}", user.name);
    let groups: Vec<libc::gid_t> = user.groups.iter().map(|&g| g as libc::gid_t).collect();
    let n = groups.len();
    traced!("setgroups", ("{n}, {:?}", user.groups), {
        // SAFETY: setgroups reads `n` gid_t values from the pointer, which a live Vec of that
        // length gives; it keeps no pointer after the call.
        status(unsafe { libc::setgroups(n as _, groups.as_ptr()) })
    })
    .map_err(|e| fail("setgroups", e))?;
    traced!("setgid", ("{}", user.gid), {
        // SAFETY: setgid takes a number and touches no memory.
        status(unsafe { libc::setgid(user.gid as libc::gid_t) })
    })
    .map_err(|e| fail("setgid", e))?;
    traced!("setuid", ("{}", user.uid), {
        // SAFETY: setuid takes a number and touches no memory.
        status(unsafe { libc::setuid(user.uid as libc::uid_t) })
    })
    .map_err(|e| fail("setuid", e))?;
    let (uid, euid) = (
        rustix::process::getuid().as_raw(),
        rustix::process::geteuid().as_raw(),
    );
    if uid != user.uid || euid != user.uid {
        return Err(format!(
            "--user {}: still uid {uid} (effective {euid}) after setuid",
            user.name
        ));
    }
    Ok(())
}

/// A libc call's return code as a result.
fn status(rc: libc::c_int) -> Result<(), Errno> {
    if rc == 0 {
        Ok(())
    } else {
        Err(super::last_errno())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n\
        broken:x:notanumber:1::/:/bin/false\n";
    const GROUP: &str = "root:x:0:\nwww-data:x:33:\nssl-cert:x:110:postgres,www-data\n\
        bad\nweb:x:500:www-data\n";

    #[test]
    fn a_user_is_found_with_its_groups() {
        let u = with_groups(find_user(PASSWD, "www-data").unwrap(), GROUP);
        assert_eq!((u.uid, u.gid), (33, 33));
        assert_eq!(u.groups, vec![33, 110, 500]);
    }

    #[test]
    fn unknown_and_malformed_users_are_not_found() {
        assert_eq!(find_user(PASSWD, "nobody"), None);
        assert_eq!(find_user(PASSWD, "broken"), None);
        assert_eq!(find_user(PASSWD, "www"), None);
        let root = with_groups(find_user(PASSWD, "root").unwrap(), GROUP);
        assert_eq!(root.groups, vec![0]);
    }
}
