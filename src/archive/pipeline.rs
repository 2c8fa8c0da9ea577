//! The parallel part of a backup: sources stream members into a [`MemberSink`] on one
//! thread, which cuts them into frames and hashes them; a pool of workers compresses
//! frames; the calling thread reorders finished frames and feeds the [`ArchiveWriter`].
//!
//! Memory is bounded by a fixed number of items in flight (`2 x workers + 2`, each at
//! most one frame), whatever the size of a member.

use crate::archive::writer::ArchiveWriter;
use crate::error::{Error, Result};
use crate::format::frame::{ContentHash, FrameEncoder};
use crate::model::{Member, MemberSink, SinkError, Spool, SpooledPart};
use crossbeam_channel::{bounded, Receiver, Sender};
use std::collections::BTreeMap;
use std::io::Read;

#[derive(Debug, Clone)]
pub struct Settings {
    pub workers: usize,
    pub level: i32,
    pub frame_size: usize,
    /// Where sources that compress on their own threads spool (created on demand).
    pub spool_dir: std::path::PathBuf,
    /// What earlier events noted, newest first per key (see [`MemberSink::previous`]).
    pub previous: BTreeMap<String, String>,
}

/// What the sources reported besides their members.
#[derive(Debug, Default)]
pub struct Outcome {
    pub warnings: Vec<String>,
    pub notes: std::collections::BTreeMap<String, String>,
}

enum Item {
    Entry(Member),
    Begin(Member),
    Frame(Vec<u8>, u32),
    End(String, String),
    Spooled(Member, Vec<SpooledPart>, (String, String)),
}

struct Job {
    seq: u64,
    /// A recycled buffer of `frame_size` bytes, of which the first `len` are the frame.
    data: Vec<u8>,
    len: usize,
}

/// The producer side handed to sources.
struct Sink<'a> {
    seq: u64,
    frame_size: usize,
    tokens: Receiver<()>,
    jobs: Sender<Job>,
    done: Sender<(u64, Item)>,
    /// Frame buffers the workers are done with, reused without zeroing them again.
    free: Receiver<Vec<u8>>,
    spool: Spool,
    previous: &'a BTreeMap<String, String>,
    outcome: &'a mut Outcome,
}

fn closed() -> Error {
    Error::WriterStopped
}

impl Sink<'_> {
    fn send(&mut self, item: Item) -> Result<()> {
        self.tokens.recv().map_err(|_| closed())?;
        self.done.send((self.seq, item)).map_err(|_| closed())?;
        self.seq += 1;
        Ok(())
    }

    fn buffer(&self) -> Vec<u8> {
        self.free
            .try_recv()
            .unwrap_or_else(|_| vec![0u8; self.frame_size])
    }

    fn send_frame(&mut self, data: Vec<u8>, len: usize) -> Result<()> {
        self.tokens.recv().map_err(|_| closed())?;
        self.jobs
            .send(Job {
                seq: self.seq,
                data,
                len,
            })
            .map_err(|_| closed())?;
        self.seq += 1;
        Ok(())
    }
}

/// Fills `buf` from `r` until it is full or the reader ends; pipes return short reads.
fn fill(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl MemberSink for Sink<'_> {
    fn entry(&mut self, member: Member) -> Result<()> {
        self.send(Item::Entry(member))
    }

    fn stream(&mut self, member: Member, content: &mut dyn Read) -> Result<u64, SinkError> {
        self.send(Item::Begin(member)).map_err(SinkError::Closed)?;
        let mut hash = ContentHash::default();
        let mut total = 0u64;
        let mut failed = None;
        let mut first = true;
        loop {
            let mut buf = self.buffer();
            let n = match fill(content, &mut buf) {
                Ok(n) => n,
                Err(e) => {
                    failed = Some(e);
                    0
                }
            };
            // An empty member still gets one (empty) frame, so `zstd -d` yields a file.
            if n == 0 && !first {
                break;
            }
            first = false;
            hash.update(&buf[..n]);
            total += n as u64;
            self.send_frame(buf, n).map_err(SinkError::Closed)?;
            if n < self.frame_size || failed.is_some() {
                break;
            }
        }
        let (sha256, blake3) = hash.finish();
        self.send(Item::End(sha256, blake3))
            .map_err(SinkError::Closed)?;
        match failed {
            Some(e) => Err(SinkError::Read(e)),
            None => Ok(total),
        }
    }

    fn warn(&mut self, message: String) {
        tracing::warn!("{message}");
        self.outcome.warnings.push(message);
    }

    fn note(&mut self, key: String, value: String) {
        self.outcome.notes.insert(key, value);
    }

    fn spool(&self) -> Spool {
        self.spool.clone()
    }

    fn previous(&self, key: &str) -> Option<String> {
        self.previous.get(key).cloned()
    }

    fn spooled(
        &mut self,
        member: Member,
        parts: Vec<SpooledPart>,
        hashes: (String, String),
    ) -> Result<()> {
        self.send(Item::Spooled(member, parts, hashes))
    }
}

/// Runs `produce` (the sources) against a sink feeding `writer`, compressing on
/// `settings.workers` threads. `progress` is called with uncompressed bytes written.
/// Returns what the sources recorded, or the first error of either side; on error the
/// writer may hold an open member and must be discarded.
pub fn run<F>(
    writer: &mut ArchiveWriter,
    settings: Settings,
    progress: &dyn Fn(u64),
    produce: F,
) -> Result<Outcome>
where
    F: FnOnce(&mut dyn MemberSink) -> Result<()> + Send,
{
    let workers = settings.workers.max(1);
    let in_flight = 2 * workers + 2;
    let (token_tx, token_rx) = bounded::<()>(in_flight);
    for _ in 0..in_flight {
        token_tx.send(()).expect("fresh channel");
    }
    let (job_tx, job_rx) = bounded::<Job>(in_flight);
    let (done_tx, done_rx) = bounded::<(u64, Item)>(in_flight);
    let (free_tx, free_rx) = crossbeam_channel::unbounded::<Vec<u8>>();

    std::thread::scope(|scope| {
        let spool = Spool {
            dir: settings.spool_dir.clone(),
            level: settings.level,
            frame_size: settings.frame_size,
        };
        let producer = {
            let done = done_tx.clone();
            scope.spawn(move || {
                let mut outcome = Outcome::default();
                let mut sink = Sink {
                    seq: 0,
                    frame_size: settings.frame_size,
                    tokens: token_rx,
                    jobs: job_tx,
                    done,
                    free: free_rx,
                    spool,
                    previous: &settings.previous,
                    outcome: &mut outcome,
                };
                let r = produce(&mut sink);
                drop(sink);
                r.map(|()| outcome)
            })
        };
        let mut pool = Vec::new();
        for _ in 0..workers {
            let jobs = job_rx.clone();
            let done = done_tx.clone();
            let free = free_tx.clone();
            pool.push(scope.spawn(move || -> Result<()> {
                let mut enc = FrameEncoder::new(settings.level)
                    .map_err(|e| Error::Other(format!("zstd: {e}")))?;
                for job in jobs {
                    let out = enc
                        .encode(&job.data[..job.len])
                        .map_err(|e| Error::Other(format!("zstd compression failed: {e}")))?;
                    let _ = free.send(job.data);
                    if done
                        .send((job.seq, Item::Frame(out, job.len as u32)))
                        .is_err()
                    {
                        break;
                    }
                }
                Ok(())
            }));
        }
        drop(job_rx);
        drop(done_tx);
        drop(free_tx);

        let assembled = assemble(writer, done_rx, token_tx, progress);
        let produced = producer.join().expect("producer thread panicked");
        for w in pool {
            w.join().expect("compression worker panicked")?;
        }
        assembled?;
        produced
    })
}

fn assemble(
    writer: &mut ArchiveWriter,
    done: Receiver<(u64, Item)>,
    tokens: Sender<()>,
    progress: &dyn Fn(u64),
) -> Result<()> {
    let mut pending = BTreeMap::new();
    let mut next = 0u64;
    let mut bytes = 0u64;
    for (seq, item) in done {
        pending.insert(seq, item);
        while let Some(item) = pending.remove(&next) {
            next += 1;
            match item {
                Item::Entry(m) => writer.entry(m)?,
                Item::Begin(m) => writer.begin(m)?,
                Item::Frame(data, size) => {
                    writer.frame(&data, size)?;
                    bytes += size as u64;
                    progress(bytes);
                }
                Item::End(sha, b3) => writer.end(sha, b3)?,
                Item::Spooled(m, parts, hashes) => {
                    bytes += append_spooled(writer, m, &parts, hashes)?;
                    progress(bytes);
                }
            }
            let _ = tokens.send(());
        }
    }
    Ok(())
}

/// Appends a member made of spooled parts, whose frames are copied as they are: the
/// source hashed the joined bytes already.
fn append_spooled(
    writer: &mut ArchiveWriter,
    m: Member,
    parts: &[SpooledPart],
    (sha256, blake3): (String, String),
) -> Result<u64> {
    use crate::error::IoContext;
    writer.begin(m)?;
    let mut total = 0u64;
    let mut frames = 0usize;
    let mut buf = Vec::new();
    for p in parts {
        let mut f = std::fs::File::open(&p.path)
            .ctx(|| format!("cannot open spool {}", p.path.display()))?;
        for &(c, d) in &p.framed.frames {
            buf.resize(c as usize, 0);
            f.read_exact(&mut buf)
                .ctx(|| format!("cannot read spool {}", p.path.display()))?;
            writer.frame(&buf, d)?;
            total += d as u64;
            frames += 1;
        }
        let _ = std::fs::remove_file(&p.path);
    }
    if frames == 0 {
        let empty = FrameEncoder::new(1)
            .and_then(|mut e| e.encode(&[]))
            .map_err(|e| Error::Other(format!("zstd: {e}")))?;
        writer.frame(&empty, 0)?;
    }
    writer.end(sha256, blake3)?;
    Ok(total)
}
