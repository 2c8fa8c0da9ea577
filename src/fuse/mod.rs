//! The FUSE adapter: the only user of fuser. Each trait method is a thin shell that
//! asks [`Vfs`] and replies; everything that can be decided without FUSE lives there.
//! The mount is read-only: every write-like call gets EROFS.

use crate::vfs::{Attr, Kind, Vfs};
use fuser::{
    Config, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    KernelConfig, LockOwner, MountOption, OpenAccMode, OpenFlags, ReplyAttr, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, Request, SessionACL,
};
use std::ffi::OsStr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Listings above events change when backups run: the kernel asks again after this.
const SHORT_TTL: Duration = Duration::from_secs(1);
/// Nodes inside an event never change.
const LONG_TTL: Duration = Duration::from_secs(24 * 3600);

pub struct StrataFs {
    vfs: Arc<Vfs>,
    /// The listing of each open directory, taken at opendir: readdir comes back once
    /// per page of entries, and a month of binlog events has thousands.
    dirs: std::sync::Mutex<std::collections::HashMap<u64, Arc<Vec<crate::vfs::Entry>>>>,
    next_dir: std::sync::atomic::AtomicU64,
}

fn kind(k: Kind) -> FileType {
    match k {
        Kind::Dir => FileType::Directory,
        Kind::File => FileType::RegularFile,
        Kind::Symlink => FileType::Symlink,
    }
}

fn file_attr(a: &Attr) -> (Duration, FileAttr) {
    let t = UNIX_EPOCH + Duration::from_secs(a.mtime.max(0) as u64);
    let attr = FileAttr {
        ino: INodeNo(a.ino),
        size: a.size,
        blocks: a.size.div_ceil(512),
        atime: t,
        mtime: t,
        ctime: t,
        crtime: t,
        kind: kind(a.kind),
        perm: (a.perm & 0o7777) as u16,
        nlink: if a.kind == Kind::Dir { 2 } else { 1 },
        uid: a.uid,
        gid: a.gid,
        rdev: 0,
        flags: 0,
        blksize: 1 << 20,
    };
    (if a.immutable { LONG_TTL } else { SHORT_TTL }, attr)
}

fn err(e: i32) -> Errno {
    Errno::from_i32(e)
}

/// Runs one request's work: a panic in it (a bug) is EIO for that request and a line in
/// the log, never the end of the mount.
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T, i32>) -> Result<T, i32> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        tracing::error!(
            "a {what} request failed inside strata (a bug, please report it); answered EIO"
        );
        Err(libc::EIO)
    })
}

impl Filesystem for StrataFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        let _ = config.set_max_readahead(128 << 10);
        let _ = config.set_max_background(64);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let Some(name) = name.to_str() else {
            return reply.error(Errno::ENOENT);
        };
        match guarded("lookup", || self.vfs.lookup(parent.0, name)) {
            Ok(a) => {
                let (ttl, attr) = file_attr(&a);
                reply.entry(&ttl, &attr, Generation(0))
            }
            Err(e) => reply.error(err(e)),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match guarded("getattr", || self.vfs.getattr(ino.0)) {
            Ok(a) => {
                let (ttl, attr) = file_attr(&a);
                reply.attr(&ttl, &attr)
            }
            Err(e) => reply.error(err(e)),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match guarded("readlink", || self.vfs.readlink(ino.0)) {
            Ok(t) => reply.data(t.as_bytes()),
            Err(e) => reply.error(err(e)),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if flags.acc_mode() != OpenAccMode::O_RDONLY {
            return reply.error(Errno::EROFS);
        }
        match guarded("open", || self.vfs.open(ino.0)) {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::FOPEN_KEEP_CACHE),
            Err(e) => reply.error(err(e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match guarded("read", || self.vfs.read(ino.0, fh.0, offset, size as usize)) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(err(e)),
        }
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.vfs.release(fh.0);
        reply.ok()
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match guarded("readdir", || self.vfs.readdir(ino.0)) {
            Ok(entries) => {
                let fh = self
                    .next_dir
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                crate::sync::lock(&self.dirs).insert(fh, Arc::new(entries));
                reply.opened(FileHandle(fh), FopenFlags::empty())
            }
            Err(e) => reply.error(err(e)),
        }
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        crate::sync::lock(&self.dirs).remove(&fh.0);
        reply.ok()
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let held = crate::sync::lock(&self.dirs).get(&fh.0).cloned();
        let entries = match held {
            Some(e) => e,
            None => match guarded("readdir", || self.vfs.readdir(ino.0)) {
                Ok(e) => Arc::new(e),
                Err(e) => return reply.error(err(e)),
            },
        };
        let dots = [
            (ino.0, FileType::Directory, "."),
            (ino.0, FileType::Directory, ".."),
        ];
        let all = dots.into_iter().chain(
            entries
                .iter()
                .map(|e| (e.ino, kind(e.kind), e.name.as_str())),
        );
        for (i, (ino, k, name)) in all.enumerate().skip(offset as usize) {
            if reply.add(INodeNo(ino), (i + 1) as u64, k, name) {
                break;
            }
        }
        reply.ok()
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        reply.statfs(0, 0, 0, 0, 0, 1 << 20, 255, 1 << 20)
    }

    fn setattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<fuser::TimeOrNow>,
        _mtime: Option<fuser::TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        reply.error(Errno::EROFS)
    }

    fn mkdir(&self, _req: &Request, _p: INodeNo, _n: &OsStr, _m: u32, _u: u32, reply: ReplyEntry) {
        reply.error(Errno::EROFS)
    }

    fn mknod(
        &self,
        _req: &Request,
        _p: INodeNo,
        _n: &OsStr,
        _m: u32,
        _u: u32,
        _r: u32,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS)
    }

    fn unlink(&self, _req: &Request, _p: INodeNo, _n: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS)
    }

    fn rmdir(&self, _req: &Request, _p: INodeNo, _n: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS)
    }

    fn symlink(&self, _req: &Request, _p: INodeNo, _n: &OsStr, _t: &Path, reply: ReplyEntry) {
        reply.error(Errno::EROFS)
    }

    fn rename(
        &self,
        _req: &Request,
        _p: INodeNo,
        _n: &OsStr,
        _np: INodeNo,
        _nn: &OsStr,
        _f: fuser::RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS)
    }

    fn link(&self, _req: &Request, _i: INodeNo, _np: INodeNo, _nn: &OsStr, reply: ReplyEntry) {
        reply.error(Errno::EROFS)
    }

    fn create(
        &self,
        _req: &Request,
        _p: INodeNo,
        _n: &OsStr,
        _m: u32,
        _u: u32,
        _f: i32,
        reply: fuser::ReplyCreate,
    ) {
        reply.error(Errno::EROFS)
    }

    fn setxattr(
        &self,
        _req: &Request,
        _i: INodeNo,
        _n: &OsStr,
        _v: &[u8],
        _f: i32,
        _p: u32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS)
    }

    fn removexattr(&self, _req: &Request, _i: INodeNo, _n: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS)
    }
}

/// Mounts `vfs` at `mountpoint` in background threads; dropping or unmounting the
/// returned session ends it.
pub fn mount(
    vfs: Arc<Vfs>,
    mountpoint: &Path,
    allow_other: bool,
    threads: usize,
) -> std::io::Result<fuser::BackgroundSession> {
    let mut cfg = Config::default();
    cfg.mount_options = vec![
        MountOption::FSName("strata".into()),
        MountOption::Subtype("strata".into()),
        MountOption::NoDev,
        MountOption::NoSuid,
    ];
    // Test hook: without the kernel's read-only flag, every write reaches strata, so the
    // tests can check strata's own refusals.
    if std::env::var_os("STRATA_TEST_MOUNT_WITHOUT_RO").is_none() {
        cfg.mount_options.push(MountOption::RO);
    }
    if allow_other {
        cfg.mount_options.push(MountOption::DefaultPermissions);
        cfg.acl = SessionACL::All;
    }
    cfg.n_threads = Some(threads.max(1));
    cfg.clone_fd = true;
    let session = fuser::spawn_mount(
        StrataFs {
            vfs,
            dirs: Default::default(),
            next_dir: std::sync::atomic::AtomicU64::new(1),
        },
        mountpoint,
        &cfg,
    )?;
    widen_readahead(mountpoint);
    Ok(session)
}

/// Bytes the kernel reads ahead of a sequential reader of the mount.
const KERNEL_READAHEAD_KIB: u32 = 4096;

/// The kernel reads ahead through FUSE only 128 KiB at a time by default (what it
/// offers at init); a wider window on the mount's own backing device lets it send
/// 1 MiB requests ahead of a reader, which the read-ahead threads decode in parallel.
/// Best effort: only root may write the setting, and the mount works without it.
fn widen_readahead(mountpoint: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(md) = std::fs::metadata(mountpoint) else {
        return;
    };
    let dev = md.dev();
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    let path = format!("/sys/class/bdi/{major}:{minor}/read_ahead_kb");
    if let Err(e) = std::fs::write(&path, KERNEL_READAHEAD_KIB.to_string()) {
        tracing::debug!("kernel read-ahead left at its default ({path}: {e})");
    }
}
