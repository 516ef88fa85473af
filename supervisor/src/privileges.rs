//! Dropping root. Runs before the async runtime starts, while the process has one thread,
//! so that no thread is left running with the old credentials.

use nix::unistd::{Gid, Group, Uid, User, getegid, geteuid, getgid, getgroups, getuid};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum PrivilegeError {
    #[error("started as root without --user; refusing to run Chrome as root")]
    NoUser,
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    #[error("cannot look up user {name:?}")]
    Lookup { name: String, source: nix::Error },
    #[error("user {0:?} is root; give an unprivileged user")]
    RootUser(String),
    #[error("cannot {step}")]
    Drop {
        step: &'static str,
        source: nix::Error,
    },
    #[error("privileges still held after dropping them ({0})")]
    StillPrivileged(String),
}

/// The account to run as.
#[derive(Debug, Clone)]
pub struct Account {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
    pub home: std::path::PathBuf,
}

/// Finds the account `--user` names (a name or a numeric uid).
pub fn lookup(user: &str) -> Result<Account, PrivilegeError> {
    let lookup_err = |source| PrivilegeError::Lookup {
        name: user.to_owned(),
        source,
    };
    let found = match user.parse::<u32>() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid))
            .map_err(lookup_err)?
            .or_else(|| {
                // A numeric uid without a passwd entry (common in containers) runs with the
                // gid of the same number.
                Some(User {
                    name: user.to_owned(),
                    passwd: Default::default(),
                    uid: Uid::from_raw(uid),
                    gid: Gid::from_raw(uid),
                    gecos: Default::default(),
                    dir: "/tmp".into(),
                    shell: "/bin/false".into(),
                })
            }),
        Err(_) => User::from_name(user).map_err(lookup_err)?,
    };
    let account = found.ok_or_else(|| PrivilegeError::UnknownUser(user.to_owned()))?;
    if account.uid.is_root() {
        return Err(PrivilegeError::RootUser(user.to_owned()));
    }
    Ok(Account {
        name: account.name,
        uid: account.uid,
        gid: account.gid,
        home: account.dir,
    })
}

/// Whether the process runs as root and must drop privileges.
pub fn is_root() -> bool {
    geteuid().is_root()
}

/// Becomes `account`: supplementary groups first, then the gid, then the uid (after
/// setuid we could no longer change groups), then checks nothing was left behind.
pub fn drop_to(account: &Account) -> Result<(), PrivilegeError> {
    let step = |step| move |source| PrivilegeError::Drop { step, source };
    nix::unistd::setgroups(&[account.gid]).map_err(step("set supplementary groups"))?;
    nix::unistd::setresgid(account.gid, account.gid, account.gid).map_err(step("set gid"))?;
    nix::unistd::setresuid(account.uid, account.uid, account.uid).map_err(step("set uid"))?;

    // Verify: no root uid or gid of any kind, no extra groups, and no way back.
    let groups = getgroups().map_err(step("read groups"))?;
    let regained = nix::unistd::setuid(Uid::from_raw(0)).is_ok();
    if getuid().is_root()
        || geteuid().is_root()
        || getgid() != account.gid
        || getegid() != account.gid
        || groups.iter().any(|g| *g != account.gid)
        || regained
    {
        return Err(PrivilegeError::StillPrivileged(format!(
            "uid {} euid {} gid {} groups {:?}",
            getuid(),
            geteuid(),
            getgid(),
            groups
        )));
    }
    Ok(())
}

/// The name of a group, for logs.
pub fn group_name(gid: Gid) -> Option<String> {
    Group::from_gid(gid).ok().flatten().map(|g| g.name)
}
