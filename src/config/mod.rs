//! The TOML configuration: parsing, defaults and validation. Every error names the
//! file, the line and the key, so that a typo in a cron job's config is found at once.

use crate::archive::pipeline::Settings;
use crate::error::{Error, Result};
use crate::source::Source;
use serde::{de, Deserialize, Deserializer};
use sources::{RawSource, COMMAND_KEYS, FILES_KEYS, MYSQL_KEYS};
use std::path::{Path, PathBuf};
use toml::Spanned;

/// Uncompressed bytes per frame unless `frame_size` says otherwise. 256 KiB frames
/// compress within about 1% of 1 MiB ones (0.2% on SQL, 1.2% on a mixed file tree, at
/// level 1) and make a cold random read through the mount about 3x faster.
pub const DEFAULT_FRAME_SIZE: u64 = 256 << 10;

mod sources;
mod targets;

pub const DEFAULT_PATH: &str = "/etc/strata/strata.toml";

/// zstd level 1: on independent 1 MiB frames it compressed within 0.5% of level 3 in
/// our benchmarks (smaller on SQL dumps) and ran 20-30% faster.
pub const DEFAULT_LEVEL: i32 = 1;

/// A validated configuration.
pub struct Config {
    pub path: PathBuf,
    pub repository: PathBuf,
    pub host: String,
    /// argv run after every backup with a summary on stdin (`mail -s ...`).
    pub notify: Option<Vec<String>>,
    /// Also notify after clean runs (by default only runs with warnings or failures).
    pub notify_on_success: bool,
    pub settings: Settings,
    pub sources: Vec<Box<dyn Source>>,
    /// Remote copies, in the order reads fall back to them.
    pub targets: Vec<crate::store::TargetSpec>,
    /// On-disk read-through cache for remote reads.
    pub remote_cache: Option<crate::ops::remote::CacheDir>,
    /// `[retention]`: applied after every successful backup.
    pub retention: Option<crate::model::KeepPolicy>,
    /// Prometheus text-format file rewritten after every backup run.
    pub metrics_file: Option<PathBuf>,
}

/// A byte count written as an integer or as `"1MiB"`, `"512KiB"`, `"4M"`.
#[derive(Debug, Clone, Copy)]
struct Size(pub(super) u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Size;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a byte count such as 1048576 or \"1MiB\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Size, E> {
                u64::try_from(v)
                    .map(Size)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Size, E> {
                Ok(Size(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Size, E> {
                parse_size(v).map(Size).ok_or_else(|| {
                    E::custom(format!(
                        "{v:?} is not a size; write e.g. 1048576, \"512KiB\" or \"1MiB\""
                    ))
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses a duration: seconds (`300`) or `"30s"`, `"5m"`, `"1h"`; at least one second.
pub fn parse_duration(v: &toml::Value) -> Option<std::time::Duration> {
    let secs = match v {
        toml::Value::Integer(n) => u64::try_from(*n).ok()?,
        toml::Value::String(s) => {
            let s = s.trim();
            let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
            let (n, unit) = s.split_at(split);
            let n: u64 = n.parse().ok()?;
            let mult = match unit.trim() {
                "" | "s" => 1,
                "m" | "min" => 60,
                "h" => 3600,
                _ => return None,
            };
            n.checked_mul(mult)?
        }
        _ => return None,
    };
    (secs >= 1).then(|| std::time::Duration::from_secs(secs))
}

/// Parses `1048576`, `"512KiB"`, `"1MiB"`, `"2G"` into bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    repository: PathBuf,
    compression_level: Option<i32>,
    frame_size: Option<Size>,
    workers: Option<usize>,
    host: Option<String>,
    notify_command: Option<toml::Value>,
    notify_on_success: Option<bool>,
    #[serde(default, rename = "source")]
    sources: Vec<Spanned<RawSource>>,
    #[serde(default, rename = "target")]
    targets: Vec<Spanned<targets::RawTarget>>,
    remote_cache: Option<PathBuf>,
    remote_cache_size: Option<Size>,
    identity_file: Option<PathBuf>,
    retention: Option<Spanned<targets::RawRetention>>,
    metrics_file: Option<PathBuf>,
}

pub(super) struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    /// The offset of `key`'s own line in the table that `offset` is in (from `offset`
    /// up to the next table header), or `offset` when the key is not written there.
    fn key_offset(&self, offset: usize, key: &str) -> usize {
        let start = offset.min(self.text.len());
        let mut at = start;
        for (i, line) in self.text[start..].split_inclusive('\n').enumerate() {
            let l = line.trim_start();
            if i > 0 && l.starts_with('[') {
                break;
            }
            let rest = l.strip_prefix(key).map(str::trim_start);
            if rest.is_some_and(|r| r.starts_with('=')) {
                return at;
            }
            at += line.len();
        }
        offset
    }

    /// `file: line N: key `k`: message`, N being the key's own line when it is written in
    /// the table at `offset`.
    pub(super) fn err(&self, offset: usize, key: &str, message: impl std::fmt::Display) -> Error {
        let line = self.line_of(self.key_offset(offset, key));
        Error::Config {
            path: self.path.to_path_buf(),
            message: format!("line {line}: key `{key}`: {message}"),
        }
    }

    /// Turns a toml/serde error into `file: line N: key `k`: message`.
    fn parse_err(&self, e: toml::de::Error) -> Error {
        let message = e.message().trim().to_string();
        let Some(span) = e.span() else {
            return Error::Config {
                path: self.path.to_path_buf(),
                message,
            };
        };
        let line_no = self.line_of(span.start);
        let line = self.text.lines().nth(line_no - 1).unwrap_or("");
        let key = line
            .split_once('=')
            .map(|(k, _)| k.trim().trim_matches('"'))
            .filter(|k| !k.is_empty() && !k.starts_with('['));
        let message = match key {
            Some(k) => format!("line {line_no}: key `{k}`: {message}"),
            None => format!("line {line_no}: {message}"),
        };
        Error::Config {
            path: self.path.to_path_buf(),
            message,
        }
    }
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname(2) writes at most `buf.len()` bytes into `buf`, which lives
    // for the call.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

impl Config {
    /// Reads and validates the config file at `path`.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            message: format!(
                "cannot read the config: {e}; pass --config FILE or set STRATA_CONFIG"
            ),
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Config> {
        let cx = Ctx { path, text };
        let raw: Raw = toml::from_str(text).map_err(|e| cx.parse_err(e))?;
        let key_line = |key: &str| {
            text.lines()
                .position(|l| l.trim_start().starts_with(key))
                .map(|i| text.lines().take(i).map(|l| l.len() + 1).sum())
                .unwrap_or(0)
        };
        let level = raw.compression_level.unwrap_or(DEFAULT_LEVEL);
        if !(-7..=22).contains(&level) {
            return Err(cx.err(
                key_line("compression_level"),
                "compression_level",
                format!("{level} is outside -7..=22"),
            ));
        }
        let frame_size = raw.frame_size.map(|s| s.0).unwrap_or(DEFAULT_FRAME_SIZE);
        if !(4096..=crate::format::MAX_FRAME as u64).contains(&frame_size) {
            return Err(cx.err(
                key_line("frame_size"),
                "frame_size",
                format!("{frame_size} bytes is outside 4KiB..=64MiB"),
            ));
        }
        let workers = match raw.workers {
            Some(0) => return Err(cx.err(key_line("workers"), "workers", "must be at least 1")),
            Some(n) => n,
            None => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        };
        let host = raw.host.unwrap_or_else(hostname);
        if host.is_empty() {
            return Err(cx.err(key_line("host"), "host", "must not be empty"));
        }
        let base = path.parent().unwrap_or(Path::new("."));
        if raw.repository.as_os_str().is_empty() {
            return Err(cx.err(
                key_line("repository"),
                "repository",
                "must name the repository's directory (e.g. \"/var/backups/strata\")",
            ));
        }
        let repository = base.join(&raw.repository);

        let mut sources: Vec<Box<dyn Source>> = Vec::new();
        let mut names = Vec::new();
        for s in raw.sources {
            let at = s.span().start;
            let s = s.into_inner();
            let name = s.name.clone().unwrap_or_else(|| s.kind.clone());
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                || name.starts_with('.')
            {
                return Err(cx.err(
                    at,
                    "name",
                    format!("{name:?}: use letters, digits, '.', '_' and '-'"),
                ));
            }
            if names.contains(&name) {
                return Err(cx.err(
                    at,
                    "name",
                    format!("two sources are named {name:?}; give each a distinct `name`"),
                ));
            }
            names.push(name.clone());
            if s.password.is_some() {
                return Err(cx.err(
                    at,
                    "password",
                    "passwords are not read from the config; use password_file, MYSQL_PWD or ~/.my.cnf",
                ));
            }
            let allowed = match s.kind.as_str() {
                "files" => FILES_KEYS,
                "command" => COMMAND_KEYS,
                "mysql" => MYSQL_KEYS,
                other => {
                    return Err(cx.err(
                        at,
                        "kind",
                        format!("unknown source kind {other:?}; expected \"files\", \"command\" or \"mysql\""),
                    ))
                }
            };
            if let Some(k) = s.keys().into_iter().find(|k| !allowed.contains(k)) {
                return Err(cx.err(at, k, format!("not valid for kind = {:?}", s.kind)));
            }
            sources.push(match s.kind.as_str() {
                "files" => sources::files(&cx, at, name, s)?,
                "command" => sources::command(&cx, at, name, s)?,
                _ => sources::mysql(&cx, at, name, s, &host, base)?,
            });
        }
        let mut targets = Vec::new();
        let identity_file = raw.identity_file.map(|f| base.join(f));
        for t in raw.targets {
            let at = t.span().start;
            let spec = targets::target(&cx, at, t.into_inner(), base, identity_file.as_deref())?;
            if targets
                .iter()
                .any(|o: &crate::store::TargetSpec| o.name == spec.name)
            {
                return Err(cx.err(
                    at,
                    "name",
                    format!(
                        "two targets are named {:?}; give each a distinct `name`",
                        spec.name
                    ),
                ));
            }
            targets.push(spec);
        }
        let remote_cache = raw.remote_cache.map(|dir| crate::ops::remote::CacheDir {
            dir: base.join(dir),
            max_bytes: raw.remote_cache_size.map(|s| s.0).unwrap_or(1 << 30),
        });
        let retention = match raw.retention {
            None => None,
            Some(r) => {
                let at = r.span().start;
                Some(targets::retention(&cx, at, r.into_inner())?)
            }
        };
        let notify = match raw.notify_command {
            None => None,
            Some(toml::Value::String(sh)) if !sh.trim().is_empty() => Some(vec!["sh".into(), "-c".into(), sh]),
            Some(toml::Value::Array(a)) if !a.is_empty() && a.iter().all(|v| v.is_str()) => {
                Some(a.iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect())
            }
            Some(_) => {
                return Err(cx.err(
                    key_line("notify_command"),
                    "notify_command",
                    "expected an argv list such as [\"mail\", \"-s\", \"strata\", \"ops@example.org\"] or a shell string",
                ))
            }
        };
        Ok(Config {
            path: path.to_path_buf(),
            repository: repository.clone(),
            notify,
            notify_on_success: raw.notify_on_success.unwrap_or(false),
            host,
            settings: Settings {
                workers,
                level,
                frame_size: frame_size as usize,
                spool_dir: repository.join(".spool"),
                previous: Default::default(),
            },
            sources,
            targets,
            remote_cache,
            retention,
            metrics_file: raw.metrics_file.map(|p| base.join(p)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Config> {
        Config::parse(Path::new("/etc/strata/strata.toml"), t)
    }

    #[test]
    fn the_example_config_parses() {
        let c = parse(include_str!("../../etc/strata.toml")).unwrap();
        assert_eq!(c.sources.len(), 3);
        assert_eq!(c.notify, None);
        assert_eq!(c.settings.frame_size, 256 << 10);
    }

    #[test]
    fn a_password_in_the_config_is_refused() {
        let e = parse("repository = \"/r\"\n[[source]]\nkind = \"mysql\"\npassword = \"x\"\n")
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("line 4: key `password`") && e.contains("password_file"),
            "{e}"
        );
        assert!(!e.contains("\"x\""), "{e}");
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("1MiB"), Some(1 << 20));
        assert_eq!(parse_size("512 KiB"), Some(512 << 10));
        assert_eq!(parse_size("12x"), None);
    }

    #[test]
    fn an_unknown_key_names_file_line_and_key() {
        let e = parse("repository = \"/r\"\ncompresion_level = 3\n")
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.starts_with("/etc/strata/strata.toml: line 2: key `compresion_level`"),
            "{e}"
        );
    }

    #[test]
    fn a_wrong_type_names_file_line_and_key() {
        let e = parse("repository = \"/r\"\n\n[[source]]\nkind = \"files\"\ninclude = \"/etc\"\n")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("line 5: key `include`"), "{e}");
    }

    #[test]
    fn a_relative_include_is_refused() {
        let e = parse("repository = \"/r\"\n[[source]]\nkind = \"files\"\ninclude = [\"etc\"]\n")
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("line 4: key `include`") && e.contains("not an absolute path"),
            "{e}"
        );
    }

    const TARGETS: &str = "repository = \"/r\"\n\n[[target]]\nname = \"offsite\"\nkind = \"s3\"\nbucket = \"b\"\nkeep = { daily = 7, within = \"1y2m\" }\n\n[[target]]\nname = \"nas\"\nkind = \"sftp\"\nhost = \"h\"\npath = \"/srv\"\n";

    #[test]
    fn targets_parse_in_order_with_their_keep_rules() {
        let c = parse(TARGETS).unwrap();
        assert_eq!(c.targets.len(), 2);
        assert_eq!(c.targets[0].name, "offsite");
        let keep = c.targets[0].keep.clone().unwrap();
        assert_eq!((keep.daily, keep.within.unwrap().months), (7, 2));
        match &c.targets[1].kind {
            crate::store::Kind::Sftp(o) => assert_eq!((o.port, o.path.as_str()), (22, "/srv")),
            _ => panic!("sftp expected"),
        }
    }

    #[test]
    fn a_secret_in_a_target_is_refused_without_echoing_it() {
        let t = TARGETS.replace(
            "bucket = \"b\"\n",
            "bucket = \"b\"\nsecret_access_key = \"hunter2\"\n",
        );
        let e = parse(&t).err().unwrap().to_string();
        assert!(
            e.contains("line 7: key `secret_access_key`") && e.contains("AWS chain"),
            "{e}"
        );
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn target_mistakes_name_their_key() {
        for (from, to, key) in [
            ("kind = \"s3\"", "kind = \"tape\"", "kind"),
            ("bucket = \"b\"\n", "bucket = \"b\"\nhost = \"x\"\n", "host"),
            (
                "daily = 7, within = \"1y2m\"",
                "within = \"soon\"",
                "within",
            ),
            ("daily = 7, within = \"1y2m\"", "", "keep"),
            ("name = \"nas\"", "name = \"offsite\"", "name"),
        ] {
            let e = parse(&TARGETS.replacen(from, to, 1))
                .err()
                .map(|e| e.to_string());
            assert!(
                e.as_deref()
                    .is_some_and(|e| e.contains(&format!("key `{key}`"))),
                "{to}: {e:?}"
            );
        }
    }

    #[test]
    fn an_unknown_kind_names_the_kind_line() {
        let e = parse("repository = \"/r\"\n[[source]]\nname = \"x\"\nkind = \"tape\"\n")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("line 4: key `kind`"), "{e}");
    }
}
