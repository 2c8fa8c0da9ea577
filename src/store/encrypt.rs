//! Client-side encryption of a target (DESIGN.md, "Encrypted copies"): a wrapper over any
//! [`Store`] that encrypts every file on its way out in the age v1 format for the
//! target's X25519 recipients, stores it as `<name>.age`, and decrypts on the way in.
//! The rest of the code never sees ciphertext: names, sizes and bytes read are the
//! plaintext's.
//!
//! Reads stay ranged: age's payload is a sequence of 64 KiB chunks, each authenticated
//! alone, so a read fetches only the chunks its range touches (in one request) and age's
//! own stream reader checks each chunk's tag before a byte is returned. Backups need
//! only the public recipients; the identity (the secret key) is read from its file on
//! the first read, so a machine that only writes never holds it.

use super::{Object, Store, Stored};
use crate::error::{Error, IoContext, Result};
use age::stream::StreamReader;
use sha2::Digest;
use std::io::{Read, Seek, SeekFrom, Write};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Plaintext bytes per age payload chunk.
const CHUNK: u64 = 64 << 10;
/// Ciphertext bytes per full chunk: the plaintext and its 16-byte Poly1305 tag.
const SEALED: u64 = CHUNK + 16;
/// The age payload nonce between the header and the first chunk.
const NONCE: u64 = 16;
/// Suffix of every encrypted object's name on the target.
pub const SUFFIX: &str = ".age";

/// An X25519 recipient as written in configs (`age1...`), checked.
pub fn parse_recipient(s: &str) -> std::result::Result<age::x25519::Recipient, String> {
    age::x25519::Recipient::from_str(s.trim()).map_err(|e| {
        format!("{s:?} is not an age X25519 recipient (age1...; `age-keygen -y KEYFILE` prints one): {e}")
    })
}

/// The recipients of a recipients file: one per line, `#` comments and blank lines
/// ignored (the format `age -R` reads).
pub fn parse_recipients_file(text: &str) -> std::result::Result<Vec<String>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| parse_recipient(l).map(|_| l.to_string()))
        .collect()
}

type Identities = Vec<Box<dyn age::Identity + Send + Sync>>;

/// One object opened for reading: age's seekable reader over ranged reads.
struct Opened {
    reader: StreamReader<Ranged>,
    /// Where the payload's first chunk starts (header and nonce before it).
    payload: u64,
    /// The ciphertext's size.
    size: u64,
    /// Shared with the reader's [`Ranged`]: the end of the ciphertext range the
    /// current read needs, so that it is fetched in one request.
    until: Arc<AtomicU64>,
}

/// A target whose files are age-encrypted.
pub struct Encrypted {
    inner: Arc<dyn Store>,
    target: String,
    recipients: Vec<age::x25519::Recipient>,
    identity_file: Option<PathBuf>,
    identities: OnceLock<std::result::Result<Arc<Identities>, String>>,
    open: Mutex<lru::LruCache<String, Arc<Mutex<Opened>>>>,
}

impl Encrypted {
    /// Wraps `inner`; `recipients` were checked when the config was read.
    pub fn new(
        inner: Box<dyn Store>,
        target: &str,
        recipients: &[String],
        identity_file: Option<PathBuf>,
    ) -> Result<Encrypted> {
        let recipients = recipients
            .iter()
            .map(|r| parse_recipient(r))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|message| Error::Encryption {
                target: target.to_string(),
                message,
            })?;
        Ok(Encrypted {
            inner: Arc::from(inner),
            target: target.to_string(),
            recipients,
            identity_file,
            identities: OnceLock::new(),
            open: Mutex::new(lru::LruCache::new(NonZeroUsize::new(64).expect("64 > 0"))),
        })
    }

    fn err(&self, message: String) -> Error {
        Error::Encryption {
            target: self.target.clone(),
            message,
        }
    }

    /// The identities of `identity_file`, read once.
    fn identities(&self) -> std::io::Result<Arc<Identities>> {
        let got = self.identities.get_or_init(|| {
            let Some(file) = &self.identity_file else {
                return Err(format!(
                    "target {} is encrypted and no identity is given to read it: set `identity_file` in its [[target]] (or pass --identity FILE)",
                    self.target
                ));
            };
            let parsed = age::IdentityFile::from_file(file.display().to_string())
                .map_err(|e| format!("cannot read identity file {}: {e}", file.display()))?;
            let ids = parsed.into_identities().map_err(|e| {
                format!(
                    "identity file {} holds no usable age identity: {e}",
                    file.display()
                )
            })?;
            if ids.is_empty() {
                return Err(format!(
                    "identity file {} holds no age identity (AGE-SECRET-KEY-1...)",
                    file.display()
                ));
            }
            Ok(Arc::new(ids))
        });
        got.clone().map_err(std::io::Error::other)
    }

    /// The reader of `name` (plaintext name), opened on first use.
    fn opened(&self, name: &str) -> std::io::Result<Arc<Mutex<Opened>>> {
        if let Some(o) = crate::sync::lock(&self.open).get(name) {
            return Ok(o.clone());
        }
        let remote = format!("{name}{SUFFIX}");
        let size = self
            .inner
            .size_of(&remote)
            .map_err(|e| std::io::Error::other(e.to_string()))?
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("target {}: {remote} not found", self.target),
                )
            })?;
        let identities = self.identities()?;
        let (payload, head) = self.payload_start(&remote, size)?;
        let until = Arc::new(AtomicU64::new(0));
        let ranged = Ranged {
            store: self.inner.clone(),
            name: remote.clone(),
            size,
            pos: 0,
            buf: head,
            buf_at: 0,
            until: until.clone(),
        };
        let undecryptable = |e: age::DecryptError| {
            let why = match e {
                age::DecryptError::NoMatchingKeys => format!(
                    "it was encrypted for other recipients than the identities in {}; give the identity_file whose public key is among the target's recipients",
                    self.identity_file.as_deref().unwrap_or(Path::new("?")).display()
                ),
                age::DecryptError::Io(e) => e.to_string(),
                other => format!("it is not a sound age file ({other})"),
            };
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("target {}: cannot decrypt {remote}: {why}", self.target),
            )
        };
        let decryptor = age::Decryptor::new(ranged).map_err(undecryptable)?;
        let reader = decryptor
            .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
            .map_err(undecryptable)?;
        let opened = Arc::new(Mutex::new(Opened {
            reader,
            payload,
            size,
            until,
        }));
        self.open
            .lock()
            .expect("lock")
            .put(name.to_string(), opened.clone());
        Ok(opened)
    }

    /// The plaintext size of an age file of `size` bytes whose payload starts at
    /// `payload`: each chunk of up to 64 KiB carries a 16-byte tag.
    fn plain_size(size: u64, payload: u64) -> u64 {
        let sealed = size.saturating_sub(payload);
        sealed - sealed.div_ceil(SEALED) * 16
    }

    /// Where the payload of `remote` starts, read from its header without decrypting
    /// (listings give plaintext sizes to machines that hold no identity), and the
    /// bytes read to find it.
    fn payload_start(&self, remote: &str, size: u64) -> std::io::Result<(u64, Vec<u8>)> {
        let mut want = 4096u64;
        loop {
            let head = self.inner.read_at(remote, 0, want.min(size) as usize)?;
            if let Some(mac) = memchr::memmem::find(&head, b"\n--- ") {
                if let Some(end) = memchr::memchr(b'\n', &head[mac + 1..]) {
                    return Ok(((mac + 1 + end + 1) as u64 + NONCE, head));
                }
            }
            if want >= size || want >= 1 << 20 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "target {}: {remote} does not start with an age header",
                        self.target
                    ),
                ));
            }
            want *= 4;
        }
    }

    /// Encrypts `local` into a temporary file beside it; returns the file and the
    /// plaintext's size and SHA-256.
    fn seal(&self, local: &Path) -> Result<(tempfile::NamedTempFile, Stored)> {
        let dir = local.parent().unwrap_or(Path::new("."));
        let file = local.file_name().unwrap_or_default().to_string_lossy();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{file}."))
            .suffix(".age.partial")
            .tempfile_in(dir)
            .ctx(|| format!("cannot create a file in {}", dir.display()))?;
        let encryptor = age::Encryptor::with_recipients(
            self.recipients.iter().map(|r| r as &dyn age::Recipient),
        )
        .map_err(|e| self.err(format!("cannot encrypt {}: {e}", local.display())))?;
        let out = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file());
        let write_err = |e| Error::io(format!("cannot write {}", tmp.path().display()), e);
        let mut w = encryptor.wrap_output(out).map_err(write_err)?;
        let plain = super::copy_hashing(local, &mut w, &tmp.path().display().to_string())?;
        let mut out = w.finish().map_err(write_err)?;
        out.flush().map_err(write_err)?;
        drop(out);
        Ok((tmp, plain))
    }

    /// An encrypted copy already under `remote` (an upload cut after the target took
    /// it): the same plaintext as `local` is a copy made; anything else is refused.
    fn existing(&self, name: &str, remote: &str, local: &Path) -> Result<Stored> {
        let (size, sha256) = super::file_sha256(local)?;
        let held = self
            .plain_len(name)
            .and_then(|len| self.plain_sha256(name, len).map(|h| (len, h)));
        match held {
            Ok((len, h)) if len == size && h == sha256 => Ok(Stored { size, sha256 }),
            Ok(_) => Err(self.err(format!(
                "{remote} already exists and decrypts to other bytes; strata never replaces a copy. If this machine is new, run `strata reindex --from {}` before its first backup (or give it another `host`)",
                self.target
            ))),
            Err(e) => Err(self.err(format!(
                "{remote} already exists and cannot be compared with {} ({e}); strata never replaces a copy",
                local.display()
            ))),
        }
    }

    fn plain_len(&self, name: &str) -> std::io::Result<u64> {
        let o = self.opened(name)?;
        let o = crate::sync::lock(&o);
        Ok(Self::plain_size(o.size, o.payload))
    }

    fn plain_sha256(&self, name: &str, len: u64) -> std::io::Result<String> {
        let mut sha = sha2::Sha256::new();
        let mut at = 0;
        while at < len {
            let n = (len - at).min(8 << 20) as usize;
            sha.update(self.read_at(name, at, n)?);
            at += n as u64;
        }
        Ok(hex::encode(sha.finalize()))
    }
}

impl Store for Encrypted {
    fn read_at(&self, name: &str, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let opened = match self.opened(name) {
            // A copy made before the target was encrypted is read as it is.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return self.inner.read_at(name, offset, len)
            }
            r => r?,
        };
        let mut o = crate::sync::lock(&opened);
        let end = offset + len as u64;
        let plain = Self::plain_size(o.size, o.payload);
        if end > plain {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "target {}: {name}{SUFFIX} holds {plain} bytes, {len} at {offset} were asked for",
                    self.target
                ),
            ));
        }
        let last_chunk = (end - 1) / CHUNK;
        let until = (o.payload + (last_chunk + 1) * SEALED).min(o.size);
        o.until.store(until, Ordering::Relaxed);
        let mut out = vec![0u8; len];
        let r = o
            .reader
            .seek(SeekFrom::Start(offset))
            .and_then(|_| o.reader.read_exact(&mut out));
        o.until.store(0, Ordering::Relaxed);
        r.map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "target {}: {name}{SUFFIX}: {len} bytes at {offset} fail age's authentication ({e}); the copy is damaged or was changed",
                    self.target
                ),
            )
        })?;
        Ok(out)
    }

    fn put(&self, name: &str, local: &Path) -> Result<Stored> {
        let remote = format!("{name}{SUFFIX}");
        if self.inner.size_of(&remote)?.is_some() {
            return self.existing(name, &remote, local);
        }
        if self.inner.size_of(name)?.is_some() {
            // Copied before the target was encrypted: the target compares, never replaces.
            return self.inner.put(name, local);
        }
        let (sealed, plain) = self.seal(local)?;
        // The target proves it holds the ciphertext made from the bytes hashed here.
        self.inner.put(&remote, sealed.path())?;
        Ok(plain)
    }

    fn list(&self, prefix: &str) -> Result<Vec<Object>> {
        // Copies made before the target was encrypted are listed as they are.
        let (listed, plain): (Vec<Object>, Vec<Object>) = self
            .inner
            .list(prefix)?
            .into_iter()
            .partition(|o| o.name.ends_with(SUFFIX));
        let sized = |o: &Object| -> Result<Object> {
            let (payload, _) = self
                .payload_start(&o.name, o.size)
                .map_err(|e| self.err(e.to_string()))?;
            Ok(Object {
                name: o.name[..o.name.len() - SUFFIX.len()].to_string(),
                size: Self::plain_size(o.size, payload),
            })
        };
        // Each size needs the object's header: read a few at once.
        let mut out = plain;
        for batch in listed.chunks(8) {
            let got: Vec<Result<Object>> = std::thread::scope(|s| {
                let handles: Vec<_> = batch.iter().map(|o| s.spawn(move || sized(o))).collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("header reader panicked"))
                    .collect()
            });
            for o in got {
                out.push(o?);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn delete(&self, name: &str) -> Result<()> {
        crate::sync::lock(&self.open).pop(name);
        self.inner.delete(&format!("{name}{SUFFIX}"))?;
        self.inner.delete(name)
    }

    fn size_of(&self, name: &str) -> Result<Option<u64>> {
        let remote = format!("{name}{SUFFIX}");
        let Some(size) = self.inner.size_of(&remote)? else {
            return self.inner.size_of(name);
        };
        let (payload, _) = self
            .payload_start(&remote, size)
            .map_err(|e| self.err(e.to_string()))?;
        Ok(Some(Self::plain_size(size, payload)))
    }

    fn fetched(&self) -> u64 {
        self.inner.fetched()
    }

    fn label(&self) -> String {
        format!("{} (age-encrypted)", self.inner.label())
    }
}

/// `Read + Seek` over ranged reads of one object, for age's stream reader: a read
/// fetches up to the range the current request needs in one go, then serves from it.
struct Ranged {
    store: Arc<dyn Store>,
    name: String,
    size: u64,
    pos: u64,
    buf: Vec<u8>,
    buf_at: u64,
    until: Arc<AtomicU64>,
}

impl Read for Ranged {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.size || out.is_empty() {
            return Ok(0);
        }
        let held = self.buf_at..self.buf_at + self.buf.len() as u64;
        if !held.contains(&self.pos) {
            // The header is read first and is short; anything else without a stated
            // range (age authenticating the last chunk) is one chunk.
            let least = if self.pos == 0 { 4096 } else { SEALED };
            let end = self
                .until
                .load(Ordering::Relaxed)
                .max(self.pos + least)
                .min(self.size);
            self.buf = self
                .store
                .read_at(&self.name, self.pos, (end - self.pos) as usize)?;
            self.buf_at = self.pos;
        }
        let from = (self.pos - self.buf_at) as usize;
        let n = out.len().min(self.buf.len() - from);
        out[..n].copy_from_slice(&self.buf[from..from + n]);
        self.pos += n as u64;
        if self.pos == self.buf_at + self.buf.len() as u64 {
            self.buf = Vec::new();
        }
        Ok(n)
    }
}

impl Seek for Ranged {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let at = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = at.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start")
        })?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::local::LocalStore;
    use age::secrecy::ExposeSecret;

    fn sealed_store(dir: &Path, key: Option<&age::x25519::Identity>) -> Encrypted {
        let id = age::x25519::Identity::generate();
        let key = key.unwrap_or(&id);
        let file = dir.join("key.txt");
        std::fs::write(&file, key.to_string().expose_secret()).unwrap();
        Encrypted::new(
            Box::new(LocalStore::new(dir.join("remote"))),
            "t",
            &[key.to_public().to_string()],
            Some(file),
        )
        .unwrap()
    }

    #[test]
    fn ranged_reads_of_an_encrypted_copy_give_the_plaintext_and_sizes_are_plain() {
        let dir = tempfile::tempdir().unwrap();
        let store = sealed_store(dir.path(), None);
        let plain: Vec<u8> = (0..(3 * CHUNK as usize + 77))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let local = dir.path().join("x.tar");
        std::fs::write(&local, &plain).unwrap();
        let stored = store.put("h/x.tar", &local).unwrap();
        assert_eq!(stored.size, plain.len() as u64);
        assert!(dir.path().join("remote/h/x.tar.age").is_file());
        assert_eq!(
            store.list("h").unwrap(),
            vec![Object {
                name: "h/x.tar".into(),
                size: plain.len() as u64
            }]
        );
        assert_eq!(store.size_of("h/x.tar").unwrap(), Some(plain.len() as u64));
        for (at, len) in [
            (0, 10),
            (CHUNK - 5, 10),
            (2 * CHUNK, CHUNK as usize + 77),
            (17, 3 * CHUNK as usize),
        ] {
            let got = store.read_at("h/x.tar", at, len).unwrap();
            assert!(got == plain[at as usize..at as usize + len], "{at} {len}");
        }
        assert!(store.read_at("h/x.tar", plain.len() as u64 - 1, 2).is_err());
        // A second put of the same bytes is the copy already made; other bytes are refused.
        assert!(store.put("h/x.tar", &local).is_ok());
        std::fs::write(&local, b"other").unwrap();
        assert!(store.put("h/x.tar", &local).is_err());
        assert_eq!(store.read_at("h/x.tar", 0, 3).unwrap(), plain[..3]);
        // No temporary file is left beside the local one.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
        // An empty file is a valid age file holding nothing.
        let empty = dir.path().join("x.err");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(store.put("h/x.err", &empty).unwrap().size, 0);
        assert_eq!(store.size_of("h/x.err").unwrap(), Some(0));
        assert!(store
            .list("h")
            .unwrap()
            .iter()
            .any(|o| o.name == "h/x.err" && o.size == 0));
    }

    #[test]
    fn a_flipped_byte_or_a_wrong_key_is_an_error_never_other_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let store = sealed_store(dir.path(), None);
        let plain = vec![42u8; 2 * CHUNK as usize];
        let local = dir.path().join("x.tar");
        std::fs::write(&local, &plain).unwrap();
        store.put("x.tar", &local).unwrap();
        let remote = dir.path().join("remote/x.tar.age");
        let mut bytes = std::fs::read(&remote).unwrap();
        let n = bytes.len();
        bytes[n - 100] ^= 1;
        std::fs::write(&remote, &bytes).unwrap();
        let fresh = Encrypted::new(
            Box::new(LocalStore::new(dir.path().join("remote"))),
            "t",
            &store
                .recipients
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>(),
            store.identity_file.clone(),
        )
        .unwrap();
        assert_eq!(fresh.read_at("x.tar", 0, 100).unwrap(), vec![42u8; 100]);
        let e = fresh.read_at("x.tar", CHUNK + 1, 100).unwrap_err();
        assert!(e.to_string().contains("authentication"), "{e}");

        std::fs::create_dir_all(dir.path().join("o")).unwrap();
        let other = sealed_store(&dir.path().join("o"), None);
        let wrong = Encrypted::new(
            Box::new(LocalStore::new(dir.path().join("remote"))),
            "t",
            &other
                .recipients
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>(),
            other.identity_file.clone(),
        )
        .unwrap();
        let e = wrong.read_at("x.tar", 0, 10).unwrap_err();
        assert!(e.to_string().contains("other recipients"), "{e}");
    }
}
