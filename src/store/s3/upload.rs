//! Putting one file into the bucket: a single PUT up to the part size, a multipart
//! upload with parts in flight in parallel above it. Every request carries the SHA-256
//! of its bytes; the file is read once, in order, and its whole SHA-256, the expected
//! composite checksum and the MD5 ETag are computed on the way.

use super::{b64, sdk_err, sse_of, S3Store};
use crate::error::{Error, Result};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use sha2::Digest as _;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// What was sent, to compare with what the server then reports.
pub(super) struct Sent {
    pub size: u64,
    /// Hex SHA-256 of the whole file.
    pub sha256: String,
    /// The `x-amz-checksum-sha256` the object must carry (base64, `-N` for N parts).
    pub checksum: String,
    /// Parts sent (1 for a single PUT): what the MD5 ETag is computed over when the
    /// server keeps no checksum.
    pub parts: usize,
}

/// What [`single`] or [`multipart`] would send of `local`, computed without sending
/// (to compare an object already under the key with the local file).
pub(super) fn expected(local: &std::path::Path, part_size: u64) -> Result<Sent> {
    use std::io::Read;
    let read = |e| Error::io(format!("cannot read {}", local.display()), e);
    let mut f = File::open(local).map_err(read)?;
    let mut whole = sha2::Sha256::new();
    let mut shas = Vec::new();
    let (mut part, mut in_part, mut size) = (sha2::Sha256::new(), 0u64, 0u64);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let want = buf.len().min((part_size - in_part) as usize);
        let n = f.read(&mut buf[..want]).map_err(read)?;
        if n == 0 {
            break;
        }
        whole.update(&buf[..n]);
        part.update(&buf[..n]);
        (in_part, size) = (in_part + n as u64, size + n as u64);
        if in_part == part_size {
            shas.extend_from_slice(&std::mem::take(&mut part).finalize());
            in_part = 0;
        }
    }
    if in_part > 0 {
        shas.extend_from_slice(&part.finalize());
    }
    let sha: [u8; 32] = whole.finalize().into();
    if size <= part_size {
        return Ok(Sent {
            size,
            sha256: hex::encode(sha),
            checksum: b64(&sha),
            parts: 1,
        });
    }
    let n = shas.len() / 32;
    let composite: [u8; 32] = sha2::Sha256::digest(&shas).into();
    Ok(Sent {
        size,
        sha256: hex::encode(sha),
        checksum: format!("{}-{n}", b64(&composite)),
        parts: n,
    })
}

/// Whether `e` is the server refusing a conditional write (`If-None-Match: *`):
/// the object exists.
pub(super) fn precondition_failed<E>(e: &aws_sdk_s3::error::SdkError<E>) -> bool {
    e.raw_response().is_some_and(|r| r.status().as_u16() == 412)
}

/// `None`: the key already holds an object, and nothing was written.
pub(super) fn single(s: &S3Store, key: &str, buf: Vec<u8>) -> Result<Option<Sent>> {
    let sha: [u8; 32] = sha2::Sha256::digest(&buf).into();
    let size = buf.len() as u64;
    let (class, sse) = sse_of(&s.opts);
    let req = s
        .client()
        .put_object()
        .bucket(&s.opts.bucket)
        .key(key)
        // Never replace an object: the server refuses if the key exists.
        .if_none_match("*")
        .checksum_sha256(b64(&sha))
        .set_storage_class(class)
        .set_server_side_encryption(sse)
        .set_ssekms_key_id(s.opts.sse_kms_key_id.clone())
        .body(ByteStream::from(buf));
    match s.rt.block_on(req.send()) {
        Err(e) if precondition_failed(&e) => return Ok(None),
        Err(e) => return Err(s.err(&format!("cannot upload s3://{}/{key}", s.opts.bucket), e)),
        Ok(_) => {}
    }
    Ok(Some(Sent {
        size,
        sha256: hex::encode(sha),
        checksum: b64(&sha),
        parts: 1,
    }))
}

/// Aborts the multipart uploads of `key` that an earlier, interrupted run left open:
/// never objects, but stored (and billed) until aborted.
fn abort_stale(s: &S3Store, key: &str) {
    let listed = s.rt.block_on(
        s.client()
            .list_multipart_uploads()
            .bucket(&s.opts.bucket)
            .prefix(key)
            .send(),
    );
    let Ok(listed) = listed else { return };
    for u in listed.uploads().iter().filter(|u| u.key() == Some(key)) {
        let Some(id) = u.upload_id() else { continue };
        tracing::debug!("aborting the interrupted upload {id} of {key}");
        let _ = s.rt.block_on(
            s.client()
                .abort_multipart_upload()
                .bucket(&s.opts.bucket)
                .key(key)
                .upload_id(id)
                .send(),
        );
    }
}

/// `None`: the key already holds an object, and nothing was written.
pub(super) fn multipart(
    s: &S3Store,
    key: &str,
    file: Arc<File>,
    size: u64,
) -> Result<Option<Sent>> {
    abort_stale(s, key);
    let (class, sse) = sse_of(&s.opts);
    let created = s.rt.block_on(
        s.client()
            .create_multipart_upload()
            .bucket(&s.opts.bucket)
            .key(key)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .set_storage_class(class)
            .set_server_side_encryption(sse)
            .set_ssekms_key_id(s.opts.sse_kms_key_id.clone())
            .send(),
    );
    let id = match created {
        Ok(c) => c.upload_id().unwrap_or_default().to_string(),
        // Some servers (rclone serve s3) name the reply's root `InitiateMultipartUpload`,
        // which the SDK refuses to parse; the upload id is in it all the same.
        Err(e) => match e
            .raw_response()
            .filter(|r| r.status().as_u16() == 200)
            .and_then(|r| r.body().bytes())
            .and_then(upload_id_of)
        {
            Some(id) => id,
            None => {
                return Err(s.err(
                    &format!("cannot start uploading s3://{}/{key}", s.opts.bucket),
                    e,
                ))
            }
        },
    };
    let result = s.rt.block_on(parts(s, key, &id, file, size));
    let abort = || {
        // Best effort: a multipart upload never completed is never an object.
        let _ = s.rt.block_on(
            s.client()
                .abort_multipart_upload()
                .bucket(&s.opts.bucket)
                .key(key)
                .upload_id(&id)
                .send(),
        );
    };
    let (parts, sent) = match result {
        Ok(done) => done,
        Err(e) => {
            abort();
            return Err(e);
        }
    };
    let completed = s.rt.block_on(
        s.client()
            .complete_multipart_upload()
            .bucket(&s.opts.bucket)
            .key(key)
            .upload_id(&id)
            .if_none_match("*")
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send(),
    );
    match completed {
        Ok(_) => Ok(Some(sent)),
        Err(e) if precondition_failed(&e) => {
            abort();
            Ok(None)
        }
        // A 200 whose body the SDK cannot parse (some S3-compatible servers name the
        // XML root differently; AWS may put an error in a 200 body): whether the
        // object is whole is decided by the check that follows.
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 200) => Ok(Some(sent)),
        Err(e) => Err(s.err(
            &format!("cannot finish uploading s3://{}/{key}", s.opts.bucket),
            e,
        )),
    }
}

/// The `<UploadId>` of a CreateMultipartUpload reply, read without the SDK's parser.
fn upload_id_of(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<UploadId>")? + "<UploadId>".len();
    let len = text[start..].find("</UploadId>")?;
    let id = text[start..start + len].trim();
    (!id.is_empty()).then(|| id.to_string())
}

/// A part as sent, with the raw SHA-256 its checksum is made of.
type PartResult = Result<(CompletedPart, [u8; 32])>;

/// Reads the file in order (hashing it whole on the way) and uploads its parts, at most
/// `part_concurrency` at once; each part is hashed in its own task, on another core.
async fn parts(
    s: &S3Store,
    key: &str,
    id: &str,
    file: Arc<File>,
    size: u64,
) -> Result<(Vec<CompletedPart>, Sent)> {
    let part = s.opts.part_size;
    let sem = Arc::new(tokio::sync::Semaphore::new(s.opts.part_concurrency.max(1)));
    let mut whole = sha2::Sha256::new();
    let mut handles: Vec<tokio::task::JoinHandle<PartResult>> = Vec::new();
    let mut offset = 0u64;
    while offset < size {
        let permit = sem.clone().acquire_owned().await.expect("semaphore closed");
        let len = part.min(size - offset) as usize;
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, offset)
            .map_err(|e| Error::io("cannot read the archive being uploaded", e))?;
        whole.update(&buf);
        let number = handles.len() as i32 + 1;
        let (client, bucket, key, id, target) = (
            s.client().clone(),
            s.opts.bucket.clone(),
            key.to_string(),
            id.to_string(),
            s.target.clone(),
        );
        handles.push(tokio::spawn(async move {
            let sha: [u8; 32] = sha2::Sha256::digest(&buf).into();
            let out = client
                .upload_part()
                .bucket(&bucket)
                .key(&key)
                .upload_id(id)
                .part_number(number)
                .checksum_sha256(b64(&sha))
                .body(ByteStream::from(buf))
                .send()
                .await;
            drop(permit);
            let out = out.map_err(|e| {
                sdk_err(
                    &target,
                    &format!("cannot upload part {number} of s3://{bucket}/{key}"),
                    e,
                )
            })?;
            let part = CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag().map(str::to_string))
                .checksum_sha256(b64(&sha))
                .build();
            Ok((part, sha))
        }));
        offset += len as u64;
    }
    let mut done = Vec::with_capacity(handles.len());
    let mut shas = Vec::with_capacity(32 * handles.len());
    let mut first_err = None;
    for h in handles {
        match h.await {
            Ok(Ok((p, sha))) => {
                done.push(p);
                shas.extend_from_slice(&sha);
            }
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(e) => {
                first_err.get_or_insert(Error::Other(format!("an upload task failed: {e}")));
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    let n = done.len();
    let composite: [u8; 32] = sha2::Sha256::digest(&shas).into();
    Ok((
        done,
        Sent {
            size,
            sha256: hex::encode(whole.finalize()),
            checksum: format!("{}-{n}", b64(&composite)),
            parts: n,
        },
    ))
}
