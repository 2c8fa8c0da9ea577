//! The snapshot tree of a repository and `read_at` over it: what the mount shows,
//! without knowing anything of FUSE. Top-level directories (years, months, events) are
//! read from the catalog on every listing, so new events appear and pruned ones vanish;
//! an event's tree is built when it is first entered and never changes. Reads go
//! frame by frame through a byte-bounded LRU cache, with read-ahead for sequential
//! readers on a pool of threads.

pub mod cache;
pub mod inode;
pub mod tree;

use crate::archive::reader::{self, WholeCheck};
use crate::catalog::Catalog;
use crate::error::Result;
use crate::model::{Event, Member};
use crate::store::Store;
use cache::FrameCache;
use crossbeam_channel::{bounded, Sender};
use inode::Ino;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
pub use tree::Kind;
use tree::{EventTree, Node};

/// Attributes of a node, as `stat` shows them.
#[derive(Debug, Clone)]
pub struct Attr {
    pub ino: u64,
    pub kind: Kind,
    pub size: u64,
    pub perm: u32,
    pub mtime: i64,
    pub uid: u32,
    pub gid: u32,
    /// True for nodes inside an event, which never change; false for the listings
    /// above them, which change when events are added or pruned.
    pub immutable: bool,
}

/// The bytes of one read: a slice of one cached frame, handed to the reply without a
/// copy, or the bytes of several frames gathered.
pub enum Data {
    Empty,
    Frame(Arc<Vec<u8>>, std::ops::Range<usize>),
    Owned(Vec<u8>),
}

impl Data {
    /// Appends `frame[range]`; `want` is the size of the whole read.
    fn push(&mut self, frame: Arc<Vec<u8>>, range: std::ops::Range<usize>, want: usize) {
        match self {
            Data::Empty => *self = Data::Frame(frame, range),
            Data::Frame(f, r) => {
                let mut v = Vec::with_capacity(want);
                v.extend_from_slice(&f[r.clone()]);
                v.extend_from_slice(&frame[range]);
                *self = Data::Owned(v);
            }
            Data::Owned(v) => v.extend_from_slice(&frame[range]),
        }
    }
}

impl std::ops::Deref for Data {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Data::Empty => &[],
            Data::Frame(f, r) => &f[r.clone()],
            Data::Owned(v) => v,
        }
    }
}

pub struct Entry {
    pub ino: u64,
    pub kind: Kind,
    pub name: String,
}

pub struct Options {
    pub cache_bytes: usize,
    /// Bytes decoded ahead of a sequential reader (at least two frames).
    pub readahead: usize,
    /// Threads decoding ahead.
    pub threads: usize,
}

/// What the read-ahead threads share with the request threads.
struct Core {
    store: Box<dyn Store>,
    cache: FrameCache,
}

impl Core {
    fn read_at<'a>(
        &'a self,
        archive: &'a str,
    ) -> impl Fn(u64, usize) -> std::io::Result<Vec<u8>> + 'a {
        move |offset, len| self.store.read_at(archive, offset, len)
    }

    fn frame(&self, tree: &EventTree, node: u32, m: &Member, i: usize) -> Result<Arc<Vec<u8>>> {
        let f = &m.frames[i];
        self.cache
            .get((tree.uid, node, i as u32), f.size as usize, || {
                reader::read_frame(&self.read_at(&tree.event.file), &tree.event.file, m, i)
            })
    }
}

struct Prefetch {
    tree: Arc<EventTree>,
    node: u32,
    member: Arc<Member>,
    frame: usize,
}

/// A read starting this close to where the previous one ended is sequential.
const SEQUENTIAL_WINDOW: u64 = 4 << 20;

struct Handle {
    /// Where the next sequential read would start.
    next: AtomicU64,
    /// Sequential reads in a row: the read-ahead doubles with each, from two frames up
    /// to `Vfs::readahead` bytes, so that a random reader that happens to land near its
    /// last read does not set off a long read-ahead.
    streak: AtomicU32,
    /// Hashes of a member read strictly in order from its first byte, checked when the
    /// read reaches its end; `None` once a read went elsewhere.
    whole: Mutex<Option<(u64, WholeCheck)>>,
}

pub struct Vfs {
    /// The catalog, and the identity of its file when opened: `reindex` replaces the
    /// file, and the mount then reopens it.
    cat: Mutex<(Catalog, Option<(u64, u64)>)>,
    core: Arc<Core>,
    trees: Mutex<lru::LruCache<i64, Arc<EventTree>>>,
    handles: Mutex<HashMap<u64, Arc<Handle>>>,
    next_fh: AtomicU64,
    prefetch: Sender<Prefetch>,
    readahead: usize,
    started: i64,
}

fn errno(e: &crate::error::Error) -> i32 {
    tracing::error!("{e}");
    libc::EIO
}

/// Device and inode of a file, to notice when it is replaced.
fn file_id(p: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

fn dir_attr(ino: u64, mtime: i64) -> Attr {
    Attr {
        ino,
        kind: Kind::Dir,
        size: 0,
        perm: 0o555,
        mtime,
        uid: 0,
        gid: 0,
        immutable: false,
    }
}

fn event_path(ev: &Event) -> String {
    // `file` is `YYYY/MM/<name>.tar`; a row saying otherwise gets its start's month.
    let month = ev.file.get(..7).filter(|m| {
        let b = m.as_bytes();
        b[4] == b'/' && b[..4].iter().chain(&b[5..]).all(u8::is_ascii_digit)
    });
    match month {
        Some(m) => format!("{m}/{}", ev.id),
        None => {
            use chrono::TimeZone;
            let t = chrono::Local
                .timestamp_opt(ev.start_time, 0)
                .single()
                .unwrap_or_else(chrono::Local::now);
            format!("{}/{}", t.format("%Y/%m"), ev.id)
        }
    }
}

impl Vfs {
    /// Bytes the store read from remote targets so far.
    pub fn fetched(&self) -> u64 {
        self.core.store.fetched()
    }

    pub fn new(cat: Catalog, store: Box<dyn Store>, opts: Options) -> Vfs {
        let core = Arc::new(Core {
            store,
            cache: FrameCache::new(opts.cache_bytes),
        });
        let (tx, rx) = bounded::<Prefetch>(1024);
        for _ in 0..opts.threads.max(1) {
            let rx = rx.clone();
            let core = core.clone();
            std::thread::spawn(move || {
                for job in rx {
                    let _ = core.frame(&job.tree, job.node, &job.member, job.frame);
                }
            });
        }
        Vfs {
            cat: Mutex::new({
                let id = file_id(cat.path());
                (cat, id)
            }),
            core,
            trees: Mutex::new(lru::LruCache::new(std::num::NonZeroUsize::new(64).unwrap())),
            handles: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
            prefetch: tx,
            // Frames decoded ahead must not push each other out of the cache.
            readahead: opts.readahead.min(opts.cache_bytes / 4),
            started: chrono::Utc::now().timestamp(),
        }
    }

    fn cat<T>(&self, f: impl FnOnce(&Catalog) -> Result<T>) -> std::result::Result<T, i32> {
        let mut cat = crate::sync::lock(&self.cat);
        let now = file_id(cat.0.path());
        if now.is_some() && now != cat.1 {
            match Catalog::read_file(cat.0.path()) {
                Ok(c) => {
                    tracing::info!("the catalog was replaced (reindex); reopened it");
                    *cat = (c, now);
                    crate::sync::lock(&self.trees).clear();
                }
                Err(e) => return Err(errno(&e)),
            }
        }
        f(&cat.0).map_err(|e| errno(&e))
    }

    /// The tree of complete event `id`, built on first use.
    fn tree(&self, id: i64) -> std::result::Result<Arc<EventTree>, i32> {
        if let Some(t) = crate::sync::lock(&self.trees).get(&id) {
            return Ok(t.clone());
        }
        let tree = self.cat(|c| {
            let Some(ev) = c.event(id)? else {
                return Ok(None);
            };
            if !ev.is_readable() {
                return Ok(None);
            }
            let members = c.members_with_ids(id)?;
            Ok(Some(Arc::new(EventTree::build(ev, members))))
        })?;
        let tree = tree.ok_or(libc::ENOENT)?;
        crate::sync::lock(&self.trees).put(id, tree.clone());
        Ok(tree)
    }

    fn node_attr(tree: &EventTree, local: u32) -> Attr {
        let n: &Node = &tree.nodes[local as usize];
        Attr {
            ino: inode::encode(Ino::Node(tree.event.id, local)),
            kind: n.kind,
            size: n.size,
            perm: if n.kind == Kind::Dir {
                n.meta.mode | 0o500
            } else {
                n.meta.mode
            },
            mtime: n.meta.mtime,
            uid: n.meta.uid,
            gid: n.meta.gid,
            immutable: true,
        }
    }

    /// The directory of an event, from its catalog row alone: listing a month must not
    /// load the trees of its events. Not immutable: a pruned event must vanish from
    /// lookups within the short TTL, while what lies inside an event never changes.
    fn event_attr(ev: &Event) -> Attr {
        Attr {
            perm: 0o755,
            immutable: false,
            ..dir_attr(inode::encode(Ino::Event(ev.id)), ev.start_time)
        }
    }

    /// Complete event `id` (ENOENT otherwise).
    fn complete(&self, id: i64) -> std::result::Result<Event, i32> {
        self.cat(|c| c.event(id))?
            .filter(|e| e.is_readable())
            .ok_or(libc::ENOENT)
    }

    fn latest(&self) -> std::result::Result<Option<Event>, i32> {
        self.cat(|c| c.latest_complete())
    }

    pub fn getattr(&self, ino: u64) -> std::result::Result<Attr, i32> {
        match inode::decode(ino).ok_or(libc::ENOENT)? {
            Ino::Root | Ino::Year(_) | Ino::Month(..) => Ok(dir_attr(ino, self.started)),
            Ino::Latest => {
                let ev = self.latest()?.ok_or(libc::ENOENT)?;
                Ok(Attr {
                    kind: Kind::Symlink,
                    size: event_path(&ev).len() as u64,
                    perm: 0o777,
                    ..dir_attr(ino, ev.start_time)
                })
            }
            Ino::Event(id) => Ok(Self::event_attr(&self.complete(id)?)),
            Ino::Node(id, local) => {
                let tree = self.tree(id)?;
                if local as usize >= tree.nodes.len() {
                    return Err(libc::ENOENT);
                }
                Ok(Self::node_attr(&tree, local))
            }
        }
    }

    pub fn lookup(&self, parent: u64, name: &str) -> std::result::Result<Attr, i32> {
        match inode::decode(parent).ok_or(libc::ENOENT)? {
            Ino::Root if name == "latest" => self.getattr(inode::LATEST),
            Ino::Root => {
                let years = self.cat(|c| c.complete_years())?;
                let y: u32 = name.parse().map_err(|_| libc::ENOENT)?;
                if !years.iter().any(|s| s == name) {
                    return Err(libc::ENOENT);
                }
                self.getattr(inode::encode(Ino::Year(y)))
            }
            Ino::Year(y) => {
                let months = self.cat(|c| c.complete_months(&format!("{y:04}")))?;
                let m: u32 = name.parse().map_err(|_| libc::ENOENT)?;
                if !months.iter().any(|s| s == name) {
                    return Err(libc::ENOENT);
                }
                self.getattr(inode::encode(Ino::Month(y, m)))
            }
            Ino::Month(y, m) => {
                let id: i64 = name.parse().map_err(|_| libc::ENOENT)?;
                let ev = self.complete(id)?;
                if !ev.file.starts_with(&format!("{y:04}/{m:02}/")) || name != id.to_string() {
                    return Err(libc::ENOENT);
                }
                Ok(Self::event_attr(&ev))
            }
            Ino::Event(id) => self.child(id, 0, name),
            Ino::Node(id, local) => self.child(id, local, name),
            Ino::Latest => Err(libc::ENOTDIR),
        }
    }

    fn child(&self, id: i64, local: u32, name: &str) -> std::result::Result<Attr, i32> {
        let tree = self.tree(id)?;
        let n = tree.nodes.get(local as usize).ok_or(libc::ENOENT)?;
        if n.kind != Kind::Dir {
            return Err(libc::ENOTDIR);
        }
        let c = *n.children.get(name).ok_or(libc::ENOENT)?;
        Ok(Self::node_attr(&tree, c))
    }

    /// The entries of a directory, without `.` and `..`.
    pub fn readdir(&self, ino: u64) -> std::result::Result<Vec<Entry>, i32> {
        let dir = |ino, name: String| Entry {
            ino,
            kind: Kind::Dir,
            name,
        };
        match inode::decode(ino).ok_or(libc::ENOENT)? {
            Ino::Root => {
                let mut out = Vec::new();
                if self.latest()?.is_some() {
                    out.push(Entry {
                        ino: inode::LATEST,
                        kind: Kind::Symlink,
                        name: "latest".into(),
                    });
                }
                for y in self.cat(|c| c.complete_years())? {
                    if let Ok(n) = y.parse::<u32>() {
                        out.push(dir(inode::encode(Ino::Year(n)), y));
                    }
                }
                Ok(out)
            }
            Ino::Year(y) => Ok(self
                .cat(|c| c.complete_months(&format!("{y:04}")))?
                .into_iter()
                .filter_map(|m| {
                    m.parse::<u32>()
                        .ok()
                        .map(|n| dir(inode::encode(Ino::Month(y, n)), m))
                })
                .collect()),
            Ino::Month(y, m) => Ok(self
                .cat(|c| c.complete_ids_in(&format!("{y:04}"), &format!("{m:02}")))?
                .into_iter()
                .map(|id| dir(inode::encode(Ino::Event(id)), id.to_string()))
                .collect()),
            Ino::Event(id) => self.children(id, 0),
            Ino::Node(id, local) => self.children(id, local),
            Ino::Latest => Err(libc::ENOTDIR),
        }
    }

    fn children(&self, id: i64, local: u32) -> std::result::Result<Vec<Entry>, i32> {
        let tree = self.tree(id)?;
        let n = tree.nodes.get(local as usize).ok_or(libc::ENOENT)?;
        if n.kind != Kind::Dir {
            return Err(libc::ENOTDIR);
        }
        Ok(n.children
            .iter()
            .map(|(name, &c)| Entry {
                ino: inode::encode(Ino::Node(id, c)),
                kind: tree.nodes[c as usize].kind,
                name: name.clone(),
            })
            .collect())
    }

    pub fn readlink(&self, ino: u64) -> std::result::Result<String, i32> {
        match inode::decode(ino).ok_or(libc::ENOENT)? {
            Ino::Latest => Ok(event_path(&self.latest()?.ok_or(libc::ENOENT)?)),
            Ino::Node(id, local) => {
                let tree = self.tree(id)?;
                let n = tree.nodes.get(local as usize).ok_or(libc::ENOENT)?;
                n.link.clone().ok_or(libc::EINVAL)
            }
            _ => Err(libc::EINVAL),
        }
    }

    /// Opens a file for reading; returns a handle for [`read`](Self::read).
    pub fn open(&self, ino: u64) -> std::result::Result<u64, i32> {
        let attr = self.getattr(ino)?;
        if attr.kind != Kind::File {
            return Err(libc::EISDIR);
        }
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        let h = Arc::new(Handle {
            next: AtomicU64::new(0),
            streak: AtomicU32::new(0),
            whole: Mutex::new(Some((0, WholeCheck::reading()))),
        });
        crate::sync::lock(&self.handles).insert(fh, h);
        Ok(fh)
    }

    pub fn release(&self, fh: u64) {
        crate::sync::lock(&self.handles).remove(&fh);
    }

    /// The member of a file node, with its frames.
    fn member(&self, tree: &EventTree, local: u32) -> std::result::Result<Arc<Member>, i32> {
        let n = tree.nodes.get(local as usize).ok_or(libc::ENOENT)?;
        if let Some(m) = n.loaded.get() {
            return Ok(m.clone());
        }
        let (Some(id), Some(m)) = (n.member_id, n.member.as_ref()) else {
            return Err(libc::EISDIR);
        };
        let frames = self.cat(|c| c.frames(id))?;
        let mut full = m.clone();
        full.frames = frames;
        let archive = &tree.event.file;
        reader::check_index(&self.core.read_at(archive), archive, &full).map_err(|e| errno(&e))?;
        let full = Arc::new(full);
        let _ = n.loaded.set(full.clone());
        Ok(full)
    }

    /// Up to `size` bytes at `offset` of file `ino`, checked and decompressed.
    pub fn read(
        &self,
        ino: u64,
        fh: u64,
        offset: u64,
        size: usize,
    ) -> std::result::Result<Data, i32> {
        let Some(Ino::Node(id, local)) = inode::decode(ino) else {
            return Err(libc::EISDIR);
        };
        let tree = self.tree(id)?;
        let node = tree.nodes.get(local as usize).ok_or(libc::ENOENT)?;
        let end = (offset + size as u64).min(node.size);
        if offset >= end {
            return Ok(Data::Empty);
        }
        let handle = crate::sync::lock(&self.handles).get(&fh).cloned();
        // The kernel's own read-ahead sends requests out of order on several threads:
        // near the last end counts as sequential.
        let streak = handle.as_ref().map_or(0, |h| {
            if h.next.swap(end, Ordering::Relaxed).abs_diff(offset) <= SEQUENTIAL_WINDOW {
                h.streak.fetch_add(1, Ordering::Relaxed).saturating_add(1)
            } else {
                h.streak.store(0, Ordering::Relaxed);
                0
            }
        });
        let mut out = Data::Empty;
        let want = (end - offset) as usize;
        if node.parts.is_empty() {
            self.read_member(&tree, local, (offset, end), streak, &mut out, want)?;
            if let Some(h) = &handle {
                self.check_whole(&tree, local, h, offset, &out)?;
            }
            return Ok(out);
        }
        // A whole database: the parts one after the other.
        let mut base = 0u64;
        for &p in &node.parts {
            let psize = tree.nodes[p as usize].size;
            let (a, b) = (offset.max(base), end.min(base + psize));
            if a < b {
                self.read_member(&tree, p, (a - base, b - base), streak, &mut out, want)?;
            }
            base += psize;
            if base >= end {
                break;
            }
        }
        Ok(out)
    }

    /// Feeds a read to its handle's whole-member check: a file read in order from its
    /// first byte to its last gets EIO on the last read if its hashes do not match.
    fn check_whole(
        &self,
        tree: &EventTree,
        local: u32,
        h: &Handle,
        offset: u64,
        data: &[u8],
    ) -> std::result::Result<(), i32> {
        let mut whole = crate::sync::lock(&h.whole);
        let Some((pos, check)) = whole.as_mut() else {
            return Ok(());
        };
        if *pos != offset {
            *whole = None;
            return Ok(());
        }
        check.update(data);
        *pos += data.len() as u64;
        let m = self.member(tree, local)?;
        if *pos < m.size {
            return Ok(());
        }
        let (_, check) = whole.take().expect("checked above");
        check.finish(&tree.event.file, &m).map_err(|e| errno(&e))
    }

    /// Appends bytes `[offset, end)` of member node `local` to `out` (a read of `want`
    /// bytes), decoding ahead for sequential readers (`streak` sequential reads in a
    /// row).
    fn read_member(
        &self,
        tree: &Arc<EventTree>,
        local: u32,
        (offset, end): (u64, u64),
        streak: u32,
        out: &mut Data,
        want: usize,
    ) -> std::result::Result<(), i32> {
        let m = self.member(tree, local)?;
        let end = end.min(m.size);
        let first = m
            .frames
            .partition_point(|f| f.uoffset + f.size as u64 <= offset);
        let mut last = first;
        for i in first..m.frames.len() {
            let f = &m.frames[i];
            if f.uoffset >= end {
                break;
            }
            let data = self.core.frame(tree, local, &m, i).map_err(|e| errno(&e))?;
            let a = offset.max(f.uoffset) - f.uoffset;
            let b = end.min(f.uoffset + f.size as u64) - f.uoffset;
            out.push(data, a as usize..b as usize, want);
            last = i;
        }
        if streak > 0 {
            let id = tree.uid;
            let most = (self.readahead / (m.frames[last].size as usize).max(1)).max(2);
            let ahead = most.min(1 << streak.min(16));
            for i in last + 1..(last + 1 + ahead).min(m.frames.len()) {
                let f = &m.frames[i];
                if !self.core.cache.fits(f.size as usize)
                    || self
                        .core
                        .cache
                        .contains(&(id, local, i as u32), f.size as usize)
                {
                    continue;
                }
                let job = Prefetch {
                    tree: tree.clone(),
                    node: local,
                    member: m.clone(),
                    frame: i,
                };
                if self.prefetch.try_send(job).is_err() {
                    break;
                }
            }
        }
        Ok(())
    }
}
