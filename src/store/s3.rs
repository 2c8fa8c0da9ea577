//! An S3 bucket (AWS or any S3-compatible server) as a [`Store`]. The async SDK runs on
//! a private tokio runtime and every call blocks on it, so the rest of strata stays
//! synchronous. Credentials come only from the standard AWS chain (environment,
//! `~/.aws`, instance roles, web identity), never from strata's config.
//!
//! A put is verified end to end: each part carries its SHA-256 (the server refuses a
//! part whose bytes differ), and after the upload the object's size and checksum as
//! the server reports them must equal what was computed locally (the SHA-256 of the
//! SHA-256 of the parts, or the MD5 ETag when the server keeps no checksum).

use super::{Object, S3Options, Store, Stored};
use crate::error::{Error, Result};
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{ChecksumMode, ServerSideEncryption, StorageClass};
use aws_sdk_s3::Client;
use base64::Engine;
use md5::Digest as _;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod upload;

pub struct S3Store {
    target: String,
    opts: S3Options,
    rt: tokio::runtime::Runtime,
    /// Built on first use: loading the AWS chain may ask instance metadata, and most
    /// commands never need the bucket.
    lazy: std::sync::OnceLock<Client>,
    fetched: AtomicU64,
}

/// What a failed SDK call becomes: a target error saying what was attempted and why,
/// transient when the server could not be reached or answered 5xx.
/// An error and its causes on one line, each said once, without the SDK's debug dumps.
fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut at: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = at {
        let text = err.to_string().replace('\n', " ");
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        at = err.source();
    }
    parts.join(": ")
}

fn sdk_err<E>(target: &str, what: &str, e: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (message, transient) = match &e {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("error");
            let status = se.raw().status().as_u16();
            let msg = se
                .err()
                .message()
                .map(str::to_string)
                .unwrap_or_else(|| format!("HTTP {status}: {}", one_line(se.err())));
            let hint = match code {
                "NoSuchBucket" => " (create the bucket, or fix `bucket` in the config)",
                "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "AccessDenied" => {
                    " (check the AWS credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws/credentials)"
                }
                _ => "",
            };
            let transient =
                code.starts_with("Internal") || code == "SlowDown" || code == "ServiceUnavailable";
            (format!("{what}: {code}: {msg}{hint}"), transient)
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => (
            format!(
                "{what}: {} (is the endpoint reachable, and its address and TLS right?)",
                one_line(&e)
            ),
            true,
        ),
        _ => (format!("{what}: {}", one_line(&e)), false),
    };
    Error::Target {
        target: target.to_string(),
        message: message.replace('\n', " "),
        transient,
    }
}

impl S3Store {
    pub fn new(target: &str, opts: S3Options) -> Result<S3Store> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("strata-s3")
            .enable_all()
            .build()
            .map_err(|e| Error::io("cannot start the S3 client runtime", e))?;
        Ok(S3Store {
            target: target.to_string(),
            lazy: std::sync::OnceLock::new(),
            opts,
            rt,
            fetched: AtomicU64::new(0),
        })
    }

    fn client(&self) -> &Client {
        self.lazy.get_or_init(|| self.build_client())
    }

    fn build_client(&self) -> Client {
        let opts = &self.opts;
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(120))
            .build();
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http)
            .timeout_config(timeouts);
        if let Some(r) = &opts.region {
            loader = loader.region(aws_config::Region::new(r.clone()));
        }
        let shared = self.rt.block_on(loader.load());
        let mut conf = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(opts.path_style)
            // strata sends its own SHA-256 headers; no aws-chunked trailers, which many
            // S3-compatible servers do not speak.
            .request_checksum_calculation(
                aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
            )
            .response_checksum_validation(
                aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired,
            );
        if shared.region().is_none() {
            conf = conf.region(aws_config::Region::new("us-east-1"));
        }
        if let Some(ep) = &opts.endpoint {
            conf = conf.endpoint_url(ep.clone());
        }
        Client::from_conf(conf.build())
    }

    fn key(&self, name: &str) -> String {
        super::join(&self.opts.prefix, name)
    }

    fn err<E>(&self, what: &str, e: SdkError<E, HttpResponse>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        sdk_err(&self.target, what, e)
    }

    fn target_err(&self, message: String) -> Error {
        Error::Target {
            target: self.target.clone(),
            message,
            transient: false,
        }
    }

    /// The refusal to write over an object that is already under `key`.
    pub(super) fn exists_err(&self, key: &str) -> Error {
        self.target_err(format!(
            "s3://{}/{key} already exists with other bytes; strata never replaces a copy. If this machine is new, run `strata reindex --from {}` before its first backup (or give it another `host`)",
            self.opts.bucket, self.target
        ))
    }

    /// The size of the object under `key`, if there is one (HEAD).
    fn head_size(&self, key: &str) -> Result<Option<u64>> {
        let out = self.rt.block_on(
            self.client()
                .head_object()
                .bucket(&self.opts.bucket)
                .key(key)
                .send(),
        );
        match out {
            Ok(o) => Ok(Some(o.content_length().unwrap_or(0).max(0) as u64)),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
            Err(e) => Err(self.err(&format!("cannot check s3://{}/{key}", self.opts.bucket), e)),
        }
    }

    /// An object already under `key`: the same bytes as `local` (an upload that was cut
    /// after the server took it) is a copy made; other bytes are refused.
    fn existing(&self, key: &str, local: &Path) -> Result<Stored> {
        let expected = upload::expected(local, self.opts.part_size)?;
        match self.check_remote(key, local, &expected) {
            Ok(()) => Ok(Stored {
                size: expected.size,
                sha256: expected.sha256,
            }),
            Err(Error::Target {
                transient: false, ..
            }) => Err(self.exists_err(key)),
            Err(e) => Err(e),
        }
    }

    /// Compares what the server holds under `key` with what was sent from `local`.
    fn check_remote(&self, key: &str, local: &Path, sent: &upload::Sent) -> Result<()> {
        let head = self
            .rt
            .block_on(
                self.client()
                    .head_object()
                    .bucket(&self.opts.bucket)
                    .key(key)
                    .checksum_mode(ChecksumMode::Enabled)
                    .send(),
            )
            .map_err(|e| self.err(&format!("cannot check s3://{}/{key}", self.opts.bucket), e))?;
        let size = head.content_length().unwrap_or(-1);
        if size != sent.size as i64 {
            return Err(self.target_err(format!(
                "s3://{}/{key} holds {size} bytes after the upload, {} were sent",
                self.opts.bucket, sent.size
            )));
        }
        let etag = head.e_tag().unwrap_or("").trim_matches('"');
        let ok = match head.checksum_sha256() {
            // A composite checksum reads `<base64>-<parts>` on AWS, bare elsewhere.
            Some(c) => match (c.split_once('-'), sent.checksum.split_once('-')) {
                (None, Some((ours, _))) => c == ours,
                _ => c == sent.checksum,
            },
            // No checksum kept (older S3-compatible servers): the MD5 ETag, computed
            // only then, by reading the file again.
            // Multipart uploads get an AWS-style `<md5 of part md5s>-<parts>` ETag, or on
            // some servers (rclone serve s3) the MD5 of the whole object: either proves
            // the bytes.
            None => {
                let (whole, parts) = md5_etags(local, self.opts.part_size, sent.parts)?;
                etag == parts || etag == whole
            }
        };
        if !ok {
            return Err(self.target_err(format!(
                "s3://{}/{key}: the checksum the server reports differs from the bytes sent",
                self.opts.bucket
            )));
        }
        Ok(())
    }
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl Store for S3Store {
    fn read_at(&self, name: &str, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let key = self.key(name);
        let range = format!("bytes={}-{}", offset, offset + len as u64 - 1);
        let client = self.client();
        let body = self.rt.block_on(async {
            let out = client
                .get_object()
                .bucket(&self.opts.bucket)
                .key(&key)
                .range(range)
                .send()
                .await;
            match out {
                Ok(o) => o.body.collect().await.map(|b| b.to_vec()).map_err(|e| {
                    std::io::Error::other(format!(
                        "target {}: reading s3://{}/{key}: {e}",
                        self.target, self.opts.bucket
                    ))
                }),
                Err(e) => {
                    let missing = e.as_service_error().is_some_and(|s| s.is_no_such_key())
                        || e.raw_response().is_some_and(|r| r.status().as_u16() == 404);
                    let kind = if missing {
                        std::io::ErrorKind::NotFound
                    } else {
                        std::io::ErrorKind::Other
                    };
                    Err(std::io::Error::new(
                        kind,
                        self.err(&format!("cannot read s3://{}/{key}", self.opts.bucket), e)
                            .to_string(),
                    ))
                }
            }
        })?;
        self.fetched.fetch_add(body.len() as u64, Ordering::Relaxed);
        if body.len() != len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "target {}: s3://{}/{key}: {} bytes at {offset} asked, {} returned",
                    self.target,
                    self.opts.bucket,
                    len,
                    body.len()
                ),
            ));
        }
        Ok(body)
    }

    fn put(&self, name: &str, local: &Path) -> Result<Stored> {
        let key = self.key(name);
        let file = Arc::new(
            std::fs::File::open(local)
                .map_err(|e| Error::io(format!("cannot read {}", local.display()), e))?,
        );
        let size = file
            .metadata()
            .map_err(|e| Error::io(format!("cannot read {}", local.display()), e))?
            .len();
        // Never replace: checked first (servers that ignore conditional writes), and
        // each write is conditional (`If-None-Match: *`) where the server keeps it.
        if self.head_size(&key)?.is_some() {
            return self.existing(&key, local);
        }
        let sent = if size <= self.opts.part_size {
            let mut buf = vec![0u8; size as usize];
            file.read_exact_at(&mut buf, 0)
                .map_err(|e| Error::io(format!("cannot read {}", local.display()), e))?;
            upload::single(self, &key, buf)
        } else {
            upload::multipart(self, &key, file, size)
        };
        let Some(sent) = sent? else {
            // Written meanwhile (the server kept the condition): compare, never replace.
            return self.existing(&key, local);
        };
        self.check_remote(&key, local, &sent)?;
        Ok(Stored {
            size,
            sha256: sent.sha256,
        })
    }

    fn list(&self, prefix: &str) -> Result<Vec<Object>> {
        let root = self.key("");
        let full = self.key(prefix);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .rt
                .block_on(
                    self.client()
                        .list_objects_v2()
                        .bucket(&self.opts.bucket)
                        .prefix(&full)
                        .set_continuation_token(token.take())
                        .send(),
                )
                .map_err(|e| {
                    self.err(&format!("cannot list s3://{}/{full}", self.opts.bucket), e)
                })?;
            for o in page.contents() {
                let Some(k) = o.key() else { continue };
                let name = k.strip_prefix(&root).unwrap_or(k).trim_start_matches('/');
                out.push(Object {
                    name: name.to_string(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                });
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }

    fn size_of(&self, name: &str) -> Result<Option<u64>> {
        self.head_size(&self.key(name))
    }

    fn delete(&self, name: &str) -> Result<()> {
        let key = self.key(name);
        self.rt
            .block_on(
                self.client()
                    .delete_object()
                    .bucket(&self.opts.bucket)
                    .key(&key)
                    .send(),
            )
            .map_err(|e| self.err(&format!("cannot delete s3://{}/{key}", self.opts.bucket), e))?;
        Ok(())
    }

    fn fetched(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }

    fn label(&self) -> String {
        format!("s3 target {:?}", self.target)
    }
}

/// Storage class and server-side encryption as the config asks.
fn sse_of(opts: &S3Options) -> (Option<StorageClass>, Option<ServerSideEncryption>) {
    (
        opts.storage_class.as_deref().map(StorageClass::from),
        opts.sse.as_deref().map(ServerSideEncryption::from),
    )
}

/// The ETags an object of `parts` parts of `part_size` bytes sent from `local` may get:
/// the MD5 of the whole, and S3's form (the whole's MD5 for one part, else the MD5 of
/// the parts' MD5s and `-N`).
fn md5_etags(local: &Path, part_size: u64, parts: usize) -> Result<(String, String)> {
    use std::io::Read;
    let mut f = std::fs::File::open(local)
        .map_err(|e| Error::io(format!("cannot read {}", local.display()), e))?;
    let mut whole = md5::Md5::new();
    let mut sums = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    let (mut part, mut in_part) = (md5::Md5::new(), 0u64);
    loop {
        let want = buf.len().min((part_size - in_part) as usize);
        let n = f
            .read(&mut buf[..want])
            .map_err(|e| Error::io(format!("cannot read {}", local.display()), e))?;
        if n == 0 {
            break;
        }
        whole.update(&buf[..n]);
        part.update(&buf[..n]);
        in_part += n as u64;
        if in_part == part_size {
            sums.extend_from_slice(&std::mem::take(&mut part).finalize());
            in_part = 0;
        }
    }
    let whole = hex::encode(whole.finalize());
    if parts <= 1 {
        return Ok((whole.clone(), whole));
    }
    if in_part > 0 {
        sums.extend_from_slice(&part.finalize());
    }
    Ok((
        whole,
        format!("{}-{parts}", hex::encode(md5::Md5::digest(&sums))),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_md5_etag_is_that_of_s3_single_and_multipart_objects() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x");
        std::fs::write(&f, b"abcdefghijk").unwrap();
        let whole = "92b9cccc0b98c3a0b8d0df25a421c0e3".to_string();
        assert_eq!(
            super::md5_etags(&f, 5, 1).unwrap(),
            (whole.clone(), whole.clone())
        );
        assert_eq!(
            super::md5_etags(&f, 5, 3).unwrap(),
            (whole, "b9eed0a35d27354142ba9a887da50d29-3".to_string())
        );
    }
}
