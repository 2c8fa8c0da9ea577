//! The command line: argument parsing, logging set-up and dispatch to one small
//! module per group of commands. Output formatting lives in `fmt`.

mod backup;
mod binlog;
mod browse;
mod fmt;
mod load;
mod mount;
mod notify;
mod prune;
mod remote;
mod repair;
mod restore;
mod signals;

use crate::config::{Config, DEFAULT_PATH};
use crate::error::{exit, Error, Result};
use crate::ops::EventRef;
use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "strata", version, about = "Backups of databases, files and dump commands into indexed, compressed archives", long_about = None)]
pub struct Cli {
    /// Configuration file.
    #[arg(long, global = true, env = "STRATA_CONFIG", default_value = DEFAULT_PATH)]
    config: PathBuf,
    /// Use this repository instead of the config's (read commands need no config then).
    #[arg(short = 'R', long, global = true)]
    repository: Option<PathBuf>,
    /// age identity file (secret key) for reading encrypted targets; overrides the
    /// config's `identity_file`.
    #[arg(long, global = true, value_name = "FILE")]
    identity: Option<PathBuf>,
    /// More output (-v: info, -vv: debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a backup of every configured source (exit 0 complete, 1 warnings, 2 failed or partial, 3 locked).
    Backup {
        /// Connect to every source and print what would be backed up (databases and
        /// tables with estimated sizes, file counts and bytes, commands); write nothing.
        #[arg(long, short = 'n')]
        dry_run: bool,
    },
    /// List the events (backup runs): id, date, status, size, duration.
    List {
        /// Print JSON (times in RFC 3339, UTC) instead of a table.
        #[arg(long)]
        json: bool,
        /// The moments each MySQL source with `binlogs = true` can be restored to: the
        /// windows its backups and captured binlogs cover, and the gaps.
        #[arg(long)]
        pitr: bool,
        /// Every event on its own row (by default a run of binlog-only events made by
        /// `strata binlog` is one row).
        #[arg(long)]
        all: bool,
    },
    /// Show one event: its status, binlog position and GTID when recorded, and its members.
    Show {
        /// The event: an id, `latest` or `latest~N`.
        #[arg(value_name = "EVENT")]
        id: EventRef,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write one member's bytes to standard output, checked against its hashes.
    Cat {
        /// The event: an id, `latest` or `latest~N`.
        #[arg(value_name = "EVENT")]
        id: EventRef,
        /// The member's path, as `strata show` prints it.
        path: String,
    },
    /// Restore members of an event (all when no PATH is given) under a directory.
    Restore {
        /// The event: an id, `latest` or `latest~N`.
        #[arg(value_name = "EVENT")]
        id: EventRef,
        /// Member paths or directory prefixes, as `strata show` prints them.
        paths: Vec<String>,
        /// The directory to restore under (created if missing); nothing is written outside it.
        #[arg(
            long,
            value_name = "DIR",
            required_unless_present = "run",
            conflicts_with = "run"
        )]
        to: Option<PathBuf>,
        /// Stream a command source's output into its `restore_command` (PATH: the
        /// source's name) and exit with that command's status.
        #[arg(long)]
        run: bool,
    },
    /// Load databases of an event into a running MySQL/MariaDB server, tables in
    /// parallel, and with --until replay the captured binlogs up to that moment.
    Load {
        /// The event: an id, `latest` or `latest~N`.
        #[arg(value_name = "EVENT")]
        id: EventRef,
        /// Databases (`DB`) or tables (`DB.TABLE`) to load (every database when none).
        what: Vec<String>,
        /// The server: HOST[:PORT], or the path of its socket.
        #[arg(long, value_name = "SERVER")]
        to: String,
        /// The user to connect as (default: `[client]` of ~/.my.cnf, else root).
        #[arg(long)]
        user: Option<String>,
        /// A file holding the password (else MYSQL_PWD or ~/.my.cnf); never on the command line.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// Load database OLD under the name NEW (repeatable).
        #[arg(long, value_name = "OLD=NEW")]
        rename: Vec<String>,
        /// Connections loading tables in parallel (default: the number of cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Replace tables that exist on the server (refused otherwise).
        #[arg(long)]
        drop_existing: bool,
        /// Print what would be loaded, and connect to nothing.
        #[arg(long)]
        dry_run: bool,
        /// Replay the binlogs captured after the event up to this local time,
        /// 'YYYY-MM-DD HH:MM:SS' (one database).
        #[arg(long, value_name = "TIME", group = "stop")]
        until: Option<String>,
        /// Replay the binlogs up to this server position, FILE:POS (as `strata list
        /// --pitr --json` and `mariadb-binlog` print them): every event ending at or before it.
        #[arg(long, value_name = "FILE:POS", group = "stop")]
        until_position: Option<String>,
        /// Replay the binlogs through this MariaDB GTID's transaction, DOMAIN-SERVER-SEQ.
        #[arg(long, value_name = "GTID", group = "stop")]
        until_gtid: Option<String>,
    },
    /// What changed between two events (exit 0: same, 1: different, 2: trouble).
    Diff {
        /// The older event: an id, `latest` or `latest~N`.
        #[arg(value_name = "OLD")]
        old: EventRef,
        /// The newer event: an id, `latest` or `latest~N`.
        #[arg(value_name = "NEW")]
        new: EventRef,
        /// Member paths or directory prefixes to compare (all when none).
        paths: Vec<String>,
        /// Print JSON instead of one line per change.
        #[arg(long)]
        json: bool,
        /// The rows added, removed and changed in one table member
        /// (`db/<database>/<table>.sql`), keyed by its primary key.
        #[arg(long)]
        rows: bool,
        /// Like --rows, printing only the counts.
        #[arg(long)]
        stat: bool,
    },
    /// Check archives, sidecars and the catalog against each other, frame by frame
    /// (exit 0 sound, 1 damage found, 2 trouble). Without EVENT or --all: the latest event.
    Verify {
        /// The event to check: an id, `latest` or `latest~N` (default: latest).
        #[arg(value_name = "EVENT")]
        id: Option<EventRef>,
        /// Check every event, and the repository itself: catalog integrity, orphan files,
        /// missing archives, file modes.
        #[arg(long, conflicts_with = "id")]
        all: bool,
        /// Print JSON instead of lines on stderr.
        #[arg(long)]
        json: bool,
        /// Check the copies on the targets instead of the local archives, reading them
        /// there (all targets, or the one --target names): the event's copies, or
        /// without one every copy.
        #[arg(long)]
        remote: bool,
        /// With --remote: only this target.
        #[arg(long, value_name = "NAME", requires = "remote")]
        target: Option<String>,
    },
    /// Rebuild the catalog from the archives and their manifests (archives that cannot
    /// be read are listed and skipped; exit 1 then).
    Reindex {
        /// Also read the archives a target holds (by their manifests, with ranged reads):
        /// how a new machine with only the config gets its backups back.
        #[arg(long, value_name = "TARGET")]
        from: Option<String>,
        /// With --from: only the events of this host (as in the target's `<host>/` paths).
        #[arg(long, requires = "from")]
        host: Option<String>,
    },
    /// Remove the events a retention policy does not keep (the options, or `[retention]`
    /// of the config), with failed and interrupted runs older than the newest complete
    /// event. Events with a proven copy on a target lose only their local files.
    Prune {
        #[command(flatten)]
        keep: prune::KeepArgs,
        /// List what would go and which rule keeps the rest; change nothing.
        #[arg(long, short = 'n')]
        dry_run: bool,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove the given events (files first, then catalog rows; crash-safe).
    Forget {
        /// Event ids.
        #[arg(required = true)]
        ids: Vec<i64>,
        /// Say what would go; change nothing.
        #[arg(long, short = 'n')]
        dry_run: bool,
    },
    /// Man pages and shell completions, for packaging (scripts/install.sh).
    #[command(hide = true)]
    Generate {
        #[command(subcommand)]
        what: Generate,
    },
    /// The configuration file.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Copy to the targets every event not yet proven there (pending or failed), then
    /// apply each target's `keep` rules (exit 0 done, 2 a copy failed).
    Upload {
        /// Only this target.
        #[arg(long, value_name = "NAME")]
        target: Option<String>,
    },
    /// Capture the binary log written since the previous event, as an event of its own,
    /// for every mysql source with `binlogs = true`: once now, or with --follow every
    /// `binlog_interval` (or `binlog_max_size`) until a signal (exit 0), resuming from
    /// the last recorded position after any restart.
    Binlog {
        /// Keep following the log (run it as a service: etc/systemd/strata-binlog.service).
        #[arg(long)]
        follow: bool,
    },
    /// Show every backup as a read-only tree at MOUNTPOINT (until unmounted or signalled).
    Mount {
        /// An empty directory to mount on.
        mountpoint: PathBuf,
        /// Bytes of decompressed frames kept in memory.
        #[arg(long, default_value = "128MiB", value_parser = parse_bytes)]
        cache_size: u64,
        /// Let other users see the mount (file modes still apply).
        #[arg(long)]
        allow_other: bool,
        /// Mount even if MOUNTPOINT is not empty (its files are hidden while mounted).
        #[arg(long)]
        allow_nonempty: bool,
    },
}

#[derive(Subcommand)]
enum Generate {
    /// Man pages (strata.1 and one per command) into DIR.
    Man { dir: PathBuf },
    /// A shell completion script on stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Validate the config alone (no server is contacted): exit 0 and a summary when
    /// it is sound, exit 2 naming file, line and key otherwise.
    Check,
}

fn parse_bytes(s: &str) -> std::result::Result<u64, String> {
    crate::config::parse_size(s).ok_or_else(|| format!("{s:?} is not a size; write e.g. 256MiB"))
}

/// What commands need: the repository, and the config when there is one.
pub(crate) struct Env {
    pub repo: PathBuf,
    pub config: Option<Config>,
    pub quiet: bool,
}

impl Env {
    fn new(cli: &Cli, needs_config: bool) -> Result<Env> {
        let mut config = if needs_config || cli.repository.is_none() {
            Some(Config::load(&cli.config)?)
        } else {
            None
        };
        if let (Some(id), Some(c)) = (&cli.identity, &mut config) {
            for e in c.targets.iter_mut().filter_map(|t| t.encryption.as_mut()) {
                e.identity_file = Some(id.clone());
            }
        }
        let repo = match (&cli.repository, &config) {
            (Some(r), _) => r.clone(),
            (None, Some(c)) => c.repository.clone(),
            (None, None) => unreachable!("config loaded when no repository is given"),
        };
        Ok(Env {
            repo,
            config,
            quiet: cli.quiet,
        })
    }

    /// The catalog of an existing repository, for reading: works on a read-only or full
    /// repository.
    pub fn catalog(&self) -> Result<crate::catalog::Catalog> {
        crate::catalog::Catalog::read(&self.repo)
    }

    /// Whether the repository holds a readable catalog (nothing is opened).
    pub fn check_catalog(&self) -> Result<()> {
        crate::catalog::Catalog::check(&self.repo)
    }

    /// The configured targets (none when no config was loaded).
    pub fn targets(&self) -> &[crate::store::TargetSpec] {
        self.config
            .as_ref()
            .map(|c| c.targets.as_slice())
            .unwrap_or(&[])
    }

    /// Where readers get archive bytes: the repository, then the targets.
    pub fn store(&self) -> Result<crate::ops::remote::Located> {
        let cache = self.config.as_ref().and_then(|c| c.remote_cache.as_ref());
        crate::ops::remote::Located::open(&self.repo, self.targets(), cache)
    }

    /// Says at -v how much was read from targets.
    pub fn report_fetched(&self, store: &crate::ops::remote::Located) {
        let n = store.fetched();
        if n > 0 {
            tracing::info!("fetched {n} bytes ({}) from targets", fmt::size(n));
        }
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("STRATA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("strata={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .try_init();
}

/// Parses the command line and runs the command; returns the exit code.
pub fn run() -> Result<u8> {
    let cli = Cli::parse();
    // Man pages and completions are installed for every user: the system's modes.
    // Everything else strata writes (archives, sidecars, catalog, spool, schema_dir,
    // restored temporaries) is owner-only, whatever the caller's umask.
    let mask = if matches!(cli.command, Command::Generate { .. }) {
        0o022
    } else {
        0o077
    };
    // SAFETY: umask(2) only sets the process's file mode creation mask and cannot fail;
    // it runs before any thread is started.
    unsafe { libc::umask(mask) };
    init_logging(cli.verbose, cli.quiet);
    if let Command::Generate { what } = &cli.command {
        return generate(what);
    }
    let needs_config = matches!(
        cli.command,
        Command::Backup { .. }
            | Command::Upload { .. }
            | Command::Binlog { .. }
            | Command::Config { .. }
            | Command::Reindex { from: Some(_), .. }
    ) || matches!(cli.command, Command::Verify { remote: true, .. });
    let env = Env::new(&cli, needs_config)?;
    match cli.command {
        Command::Backup { dry_run: false } => backup::run(env),
        Command::Backup { dry_run: true } => backup::dry_run(&env),
        Command::List {
            json, pitr: true, ..
        } => browse::pitr(&env, json),
        Command::List { json, all, .. } => browse::list(&env, json, all),
        Command::Show { id, json } => browse::show(&env, id, json),
        Command::Cat { id, ref path } => browse::cat(&env, id, path),
        Command::Restore {
            id,
            ref paths,
            to: Some(ref to),
            run: false,
        } => restore::run(&env, id, paths, to),
        Command::Restore { id, ref paths, .. } => restore::run_command(&env, id, paths),
        Command::Verify {
            id,
            all,
            json,
            remote: false,
            ..
        } => repair::verify(&env, id, all, json),
        Command::Verify {
            id,
            json,
            remote: true,
            ref target,
            ..
        } => remote::verify(&env, id, json, target.as_deref()),
        Command::Load {
            id,
            ref what,
            ref to,
            ref user,
            ref password_file,
            ref rename,
            threads,
            drop_existing,
            dry_run,
            ref until,
            ref until_position,
            ref until_gtid,
        } => load::run(
            &env,
            id,
            load::Args {
                what,
                to,
                user: user.clone(),
                password_file: password_file.clone(),
                rename,
                threads,
                drop_existing,
                dry_run,
                until: load::until(until, until_position, until_gtid)?,
            },
        ),
        Command::Diff {
            old,
            new,
            ref paths,
            json,
            rows,
            stat,
        } if rows || stat => browse::row_diff(&env, (old, new), paths, json, stat),
        Command::Diff {
            old,
            new,
            ref paths,
            json,
            ..
        } => browse::diff(&env, old, new, paths, json),
        Command::Reindex { from: None, .. } => repair::reindex(&env),
        Command::Reindex {
            from: Some(ref from),
            ref host,
        } => remote::reindex(&env, from, host.as_deref()),
        Command::Upload { ref target } => remote::upload(&env, target.as_deref()),
        Command::Binlog { follow } => binlog::run(env, follow),
        Command::Config {
            action: ConfigAction::Check,
        } => config_check(&env),
        Command::Generate { .. } => unreachable!("handled before the config is read"),
        Command::Prune {
            ref keep,
            dry_run,
            json,
        } => prune::prune(&env, keep, dry_run, json),
        Command::Forget { ref ids, dry_run } => prune::forget(&env, ids, dry_run),
        Command::Mount {
            ref mountpoint,
            cache_size,
            allow_other,
            allow_nonempty,
        } => mount::run(&env, mountpoint, cache_size, allow_other, allow_nonempty),
    }
}

/// Writes man pages or a completion script, from the same definitions as `--help`.
fn generate(what: &Generate) -> Result<u8> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    match what {
        Generate::Man { dir } => {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
            clap_mangen::generate_to(cmd, dir).map_err(|e| {
                Error::io(format!("cannot write man pages to {}", dir.display()), e)
            })?;
        }
        Generate::Completions { shell } => {
            let mut cmd = cmd;
            clap_complete::generate(*shell, &mut cmd, "strata", &mut std::io::stdout());
        }
    }
    Ok(exit::OK)
}

/// `strata config check`: the config parsed and validated, summarised on stdout.
fn config_check(env: &Env) -> Result<u8> {
    let c = env.config.as_ref().expect("config check loads the config");
    let names = |v: Vec<&str>| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    println!("{}: valid", c.path.display());
    println!("repository: {}", c.repository.display());
    println!("host: {}", c.host);
    println!(
        "sources: {}",
        names(c.sources.iter().map(|s| s.name()).collect())
    );
    let targets: Vec<String> = c
        .targets
        .iter()
        .map(|t| match &t.encryption {
            Some(e) => format!(
                "{} (age-encrypted for {} recipient{})",
                t.name,
                e.recipients.len(),
                if e.recipients.len() == 1 { "" } else { "s" }
            ),
            None => t.name.clone(),
        })
        .collect();
    println!(
        "targets: {}",
        names(targets.iter().map(String::as_str).collect())
    );
    for t in &c.targets {
        if t.encryption.is_none() && matches!(t.kind, crate::store::Kind::S3(_)) {
            eprintln!(
                "strata: warning: target {} is not encrypted: anyone who can read the bucket reads every backed-up row and file; add `recipients` (an age public key) to encrypt its copies",
                t.name
            );
        }
    }
    println!(
        "retention: {}",
        if c.retention.is_some() {
            "[retention] after each backup"
        } else {
            "none (history grows)"
        }
    );
    if let Some(m) = &c.metrics_file {
        println!("metrics_file: {}", m.display());
    }
    Ok(exit::OK)
}

/// `main`'s body: runs, prints an error as one line, maps it to an exit code. A broken
/// pipe (`strata cat ... | head`) is a normal end.
pub fn main() -> std::process::ExitCode {
    match run() {
        Ok(code) => std::process::ExitCode::from(code),
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            std::process::ExitCode::from(exit::OK)
        }
        Err(e) => {
            eprintln!("strata: error: {e}");
            std::process::ExitCode::from(e.exit_code())
        }
    }
}
