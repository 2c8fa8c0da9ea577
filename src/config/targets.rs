//! The `[[target]]` tables: remote copies on S3 or SFTP, validated into
//! [`TargetSpec`]s. Credentials are never read from here: S3 uses the AWS chain, SFTP a
//! key file or the SSH agent.

use super::{Ctx, Size};
use crate::error::Result;
use crate::model::{KeepPolicy, Span};
use crate::store::{encrypt, Encryption, Kind, S3Options, SftpOptions, TargetSpec};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTarget {
    kind: String,
    name: Option<String>,
    keep: Option<RawKeep>,
    retries: Option<u32>,
    // age encryption
    recipients: Option<Vec<String>>,
    recipients_file: Option<PathBuf>,
    identity_file: Option<PathBuf>,
    // s3
    bucket: Option<String>,
    prefix: Option<String>,
    region: Option<String>,
    endpoint: Option<String>,
    path_style: Option<bool>,
    storage_class: Option<String>,
    sse: Option<String>,
    sse_kms_key_id: Option<String>,
    part_size: Option<Size>,
    part_concurrency: Option<usize>,
    // sftp
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    key_file: Option<PathBuf>,
    known_hosts: Option<PathBuf>,
    path: Option<String>,
    // refused: secrets
    access_key_id: Option<toml::Value>,
    secret_access_key: Option<toml::Value>,
    password: Option<toml::Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKeep {
    last: Option<u32>,
    hourly: Option<u32>,
    daily: Option<u32>,
    weekly: Option<u32>,
    monthly: Option<u32>,
    yearly: Option<u32>,
    within: Option<String>,
}

const S3_ONLY: &[&str] = &[
    "bucket",
    "prefix",
    "region",
    "endpoint",
    "path_style",
    "storage_class",
    "sse",
    "sse_kms_key_id",
    "part_size",
    "part_concurrency",
];
const SFTP_ONLY: &[&str] = &["host", "port", "user", "key_file", "known_hosts", "path"];

impl RawTarget {
    fn set_keys(&self) -> Vec<&'static str> {
        let set = [
            self.bucket.is_some(),
            self.prefix.is_some(),
            self.region.is_some(),
            self.endpoint.is_some(),
            self.path_style.is_some(),
            self.storage_class.is_some(),
            self.sse.is_some(),
            self.sse_kms_key_id.is_some(),
            self.part_size.is_some(),
            self.part_concurrency.is_some(),
        ];
        let sftp = [
            self.host.is_some(),
            self.port.is_some(),
            self.user.is_some(),
            self.key_file.is_some(),
            self.known_hosts.is_some(),
            self.path.is_some(),
        ];
        S3_ONLY
            .iter()
            .zip(set)
            .chain(SFTP_ONLY.iter().zip(sftp))
            .filter(|(_, s)| *s)
            .map(|(k, _)| *k)
            .collect()
    }
}

/// `[retention]`: restic's rules for the local repository, applied after each backup.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetention {
    keep_last: Option<u32>,
    keep_hourly: Option<u32>,
    keep_daily: Option<u32>,
    keep_weekly: Option<u32>,
    keep_monthly: Option<u32>,
    keep_yearly: Option<u32>,
    keep_within: Option<String>,
}

/// Validates `[retention]` (at byte `at`): the same rules as a target's `keep`.
pub(super) fn retention(cx: &Ctx, at: usize, r: RawRetention) -> Result<KeepPolicy> {
    let k = RawKeep {
        last: r.keep_last,
        hourly: r.keep_hourly,
        daily: r.keep_daily,
        weekly: r.keep_weekly,
        monthly: r.keep_monthly,
        yearly: r.keep_yearly,
        within: r.keep_within,
    };
    keep(cx, at, k).map_err(|e| match e {
        crate::error::Error::Config { path, message } => crate::error::Error::Config {
            path,
            message: message
                .replace("key `within`", "key `keep_within`")
                .replace("key `keep`", "key `retention`"),
        },
        e => e,
    })
}

fn keep(cx: &Ctx, at: usize, k: RawKeep) -> Result<KeepPolicy> {
    let within = match k.within {
        None => None,
        Some(w) => Some(Span::parse(&w).ok_or_else(|| {
            cx.err(
                at,
                "within",
                format!("{w:?} is not a span; write e.g. \"30d\", \"1y2m\" or \"12h\""),
            )
        })?),
    };
    let p = KeepPolicy {
        last: k.last.unwrap_or(0),
        hourly: k.hourly.unwrap_or(0),
        daily: k.daily.unwrap_or(0),
        weekly: k.weekly.unwrap_or(0),
        monthly: k.monthly.unwrap_or(0),
        yearly: k.yearly.unwrap_or(0),
        within,
    };
    if p.is_empty() {
        return Err(cx.err(
            at,
            "keep",
            "keeps nothing, which would delete every copy; set at least one of last, hourly, daily, weekly, monthly, yearly, within",
        ));
    }
    Ok(p)
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
}

/// The target's age encryption: `recipients` and the lines of `recipients_file`, and
/// the identity file (the target's own, else the config's `identity_file`).
fn encryption(
    cx: &Ctx,
    at: usize,
    t: &mut RawTarget,
    base: &Path,
    identity_file: Option<&Path>,
) -> Result<Option<Encryption>> {
    let mut recipients = Vec::new();
    for r in t.recipients.take().unwrap_or_default() {
        encrypt::parse_recipient(&r).map_err(|m| cx.err(at, "recipients", m))?;
        recipients.push(r.trim().to_string());
    }
    if let Some(file) = t.recipients_file.take() {
        let file = base.join(file);
        let text = std::fs::read_to_string(&file).map_err(|e| {
            cx.err(
                at,
                "recipients_file",
                format!("cannot read {}: {e}", file.display()),
            )
        })?;
        let listed = encrypt::parse_recipients_file(&text)
            .map_err(|m| cx.err(at, "recipients_file", format!("{}: {m}", file.display())))?;
        if listed.is_empty() {
            return Err(cx.err(
                at,
                "recipients_file",
                format!("{} names no recipient", file.display()),
            ));
        }
        recipients.extend(listed);
    }
    let own = t.identity_file.take().map(|f| base.join(f));
    if recipients.is_empty() {
        if own.is_some() {
            return Err(cx.err(
                at,
                "identity_file",
                "a target without recipients is not encrypted; add `recipients` (the identity's public key, from `age-keygen -y FILE`)",
            ));
        }
        return Ok(None);
    }
    Ok(Some(Encryption {
        recipients,
        identity_file: own.or_else(|| identity_file.map(Path::to_path_buf)),
    }))
}

/// Validates one `[[target]]` starting at byte `at` of the config.
pub(super) fn target(
    cx: &Ctx,
    at: usize,
    mut t: RawTarget,
    base: &Path,
    identity_file: Option<&Path>,
) -> Result<TargetSpec> {
    let encryption = encryption(cx, at, &mut t, base, identity_file)?;
    for (key, set) in [
        ("access_key_id", t.access_key_id.is_some()),
        ("secret_access_key", t.secret_access_key.is_some()),
        ("password", t.password.is_some()),
    ] {
        if set {
            return Err(cx.err(
                at,
                key,
                "secrets are not read from the config: S3 credentials come from the AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws, instance roles), SFTP uses key_file or the SSH agent",
            ));
        }
    }
    let name = t.name.clone().unwrap_or_else(|| t.kind.clone());
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(cx.err(
            at,
            "name",
            format!("{name:?}: use letters, digits, '.', '_' and '-'"),
        ));
    }
    let foreign: &[&str] = match t.kind.as_str() {
        "s3" => SFTP_ONLY,
        "sftp" => S3_ONLY,
        other => {
            return Err(cx.err(
                at,
                "kind",
                format!("unknown target kind {other:?}; expected \"s3\" or \"sftp\""),
            ))
        }
    };
    if let Some(k) = t.set_keys().into_iter().find(|k| foreign.contains(k)) {
        return Err(cx.err(at, k, format!("not valid for kind = {:?}", t.kind)));
    }
    let keep = t.keep.map(|k| keep(cx, at, k)).transpose()?;
    let kind = if t.kind == "s3" {
        let bucket = t
            .bucket
            .filter(|b| !b.is_empty())
            .ok_or_else(|| cx.err(at, "bucket", "an s3 target needs a bucket"))?;
        let part_size = t.part_size.map(|s| s.0).unwrap_or(16 << 20);
        if !((5 << 20)..=(5u64 << 30)).contains(&part_size) {
            return Err(cx.err(at, "part_size", "S3 parts are 5MiB to 5GiB"));
        }
        if let Some(ep) = &t.endpoint {
            if !(ep.starts_with("http://") || ep.starts_with("https://")) {
                return Err(cx.err(
                    at,
                    "endpoint",
                    format!("{ep:?}: write http://host:port or https://host"),
                ));
            }
        }
        Kind::S3(S3Options {
            bucket,
            prefix: t.prefix.unwrap_or_default().trim_matches('/').to_string(),
            region: t.region,
            endpoint: t.endpoint,
            path_style: t.path_style.unwrap_or(false),
            storage_class: t.storage_class,
            sse: t.sse,
            sse_kms_key_id: t.sse_kms_key_id,
            part_size,
            part_concurrency: t.part_concurrency.unwrap_or(4).max(1),
        })
    } else {
        let host = t
            .host
            .filter(|h| !h.is_empty())
            .ok_or_else(|| cx.err(at, "host", "an sftp target needs a host"))?;
        let path = t.path.filter(|p| !p.is_empty()).ok_or_else(|| {
            cx.err(
                at,
                "path",
                "an sftp target needs the remote directory `path`",
            )
        })?;
        Kind::Sftp(SftpOptions {
            host,
            port: t.port.unwrap_or(22),
            user: t
                .user
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_else(|| "root".into()),
            key_file: t.key_file.map(|k| base.join(k)),
            known_hosts: t
                .known_hosts
                .map(|k| base.join(k))
                .unwrap_or_else(|| home().join(".ssh/known_hosts")),
            path,
        })
    };
    Ok(TargetSpec {
        name,
        kind,
        keep,
        retries: t.retries.unwrap_or(3),
        encryption,
    })
}
