//! The TOML configuration: parsing, defaults and validation. Every error names the
//! file, the line and the key, so that a typo in a cron job's config is found at once.

use crate::archive::pipeline::Settings;
use crate::error::{Error, Result};
use crate::source::{command::CommandSource, files::FilesSource, Source};
use serde::{de, Deserialize, Deserializer};
use std::path::{Path, PathBuf};
use toml::Spanned;

pub const DEFAULT_PATH: &str = "/etc/strata/strata.toml";

/// A validated configuration.
pub struct Config {
    pub path: PathBuf,
    pub repository: PathBuf,
    pub host: String,
    pub settings: Settings,
    pub sources: Vec<Box<dyn Source>>,
}

/// A byte count written as an integer or as `"1MiB"`, `"512KiB"`, `"4M"`.
#[derive(Debug, Clone, Copy)]
struct Size(u64);

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
    #[serde(default, rename = "source")]
    sources: Vec<Spanned<RawSource>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    kind: String,
    name: Option<String>,
    include: Option<Vec<String>>,
    exclude_regex: Option<Vec<String>>,
    read_all_fifos: Option<bool>,
    command: Option<Vec<String>>,
    shell: Option<String>,
    output: Option<String>,
}

struct Ctx<'a> {
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

    fn err(&self, offset: usize, key: &str, message: impl std::fmt::Display) -> Error {
        Error::Config {
            path: self.path.to_path_buf(),
            message: format!("line {}: key `{key}`: {message}", self.line_of(offset)),
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
        let level = raw.compression_level.unwrap_or(3);
        if !(-7..=22).contains(&level) {
            return Err(cx.err(
                key_line("compression_level"),
                "compression_level",
                format!("{level} is outside -7..=22"),
            ));
        }
        let frame_size = raw.frame_size.map(|s| s.0).unwrap_or(1 << 20);
        if !(4096..=(256 << 20)).contains(&frame_size) {
            return Err(cx.err(
                key_line("frame_size"),
                "frame_size",
                format!("{frame_size} bytes is outside 4KiB..=256MiB"),
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
            sources.push(match s.kind.as_str() {
                "files" => files(&cx, at, name, s)?,
                "command" => command(&cx, at, name, s)?,
                other => {
                    return Err(cx.err(
                        at,
                        "kind",
                        format!("unknown source kind {other:?}; expected \"files\" or \"command\""),
                    ))
                }
            });
        }
        Ok(Config {
            path: path.to_path_buf(),
            repository,
            host,
            settings: Settings {
                workers,
                level,
                frame_size: frame_size as usize,
            },
            sources,
        })
    }
}

fn refuse(cx: &Ctx, at: usize, kind: &str, keys: &[(&str, bool)]) -> Result<()> {
    match keys.iter().find(|(_, set)| *set) {
        Some((k, _)) => Err(cx.err(at, k, format!("not valid for kind = {kind:?}"))),
        None => Ok(()),
    }
}

fn files(cx: &Ctx, at: usize, name: String, s: RawSource) -> Result<Box<dyn Source>> {
    refuse(
        cx,
        at,
        "files",
        &[
            ("command", s.command.is_some()),
            ("shell", s.shell.is_some()),
            ("output", s.output.is_some()),
        ],
    )?;
    let include = s.include.unwrap_or_default();
    if include.is_empty() {
        return Err(cx.err(
            at,
            "include",
            "a files source needs at least one include path",
        ));
    }
    let mut paths = Vec::new();
    for p in include {
        if !p.starts_with('/') {
            return Err(cx.err(at, "include", format!("{p:?} is not an absolute path")));
        }
        paths.push(PathBuf::from(p));
    }
    let exclude = regex::RegexSet::new(s.exclude_regex.unwrap_or_default())
        .map_err(|e| cx.err(at, "exclude_regex", e.to_string().replace('\n', " ")))?;
    Ok(Box::new(FilesSource {
        name,
        include: paths,
        exclude,
        read_all_fifos: s.read_all_fifos.unwrap_or(false),
    }))
}

fn command(cx: &Ctx, at: usize, name: String, s: RawSource) -> Result<Box<dyn Source>> {
    refuse(
        cx,
        at,
        "command",
        &[
            ("include", s.include.is_some()),
            ("exclude_regex", s.exclude_regex.is_some()),
            ("read_all_fifos", s.read_all_fifos.is_some()),
        ],
    )?;
    let (argv, shell) =
        match (s.command, s.shell) {
            (Some(argv), None) if !argv.is_empty() && !argv[0].is_empty() => (argv, false),
            (None, Some(sh)) if !sh.trim().is_empty() => (vec![sh], true),
            (Some(_), Some(_)) => {
                return Err(cx.err(
                    at,
                    "shell",
                    "give either `command` (argv list) or `shell`, not both",
                ))
            }
            _ => return Err(cx.err(
                at,
                "command",
                "a command source needs `command = [\"prog\", \"arg\"...]` or `shell = \"...\"`",
            )),
        };
    let output = s.output.unwrap_or_else(|| format!("{name}.out"));
    let ok = !output.is_empty()
        && Path::new(&output)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !ok {
        return Err(cx.err(
            at,
            "output",
            format!("{output:?} must be a relative path without `..`"),
        ));
    }
    Ok(Box::new(CommandSource {
        name,
        argv,
        shell,
        output,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Config> {
        Config::parse(Path::new("/etc/strata/strata.toml"), t)
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
            e.contains("key `include`") && e.contains("not an absolute path"),
            "{e}"
        );
    }
}
