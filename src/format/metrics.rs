//! The Prometheus text-format file `metrics_file` names, rewritten after every backup
//! run for node_exporter's textfile collector: how the last run went, when the last
//! success was, sizes, and per source and per target figures. Holds no secret.

use std::fmt::Write;

/// One source of the last run.
#[derive(Debug, Clone, Default)]
pub struct SourceFigures {
    pub name: String,
    pub members: u64,
    pub bytes: u64,
    pub failed: bool,
}

/// One target: whether the last event is copied there, and how many events are not.
#[derive(Debug, Clone, Default)]
pub struct TargetFigures {
    pub name: String,
    pub last_copied: bool,
    pub pending: u64,
}

/// What the file says.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub host: String,
    /// Unix time the run ended.
    pub run_time: i64,
    /// The run's exit code (0 success, 1 warnings, 2 failed or partial).
    pub exit_code: u8,
    /// End of the newest complete event (0 when none).
    pub last_success: i64,
    pub duration: i64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub members: u64,
    pub warnings: u64,
    pub sources: Vec<SourceFigures>,
    pub targets: Vec<TargetFigures>,
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One family: name, help, and its samples as (extra labels, value).
type Family = (&'static str, &'static str, Vec<(String, String)>);

impl Metrics {
    fn families(&self) -> Vec<Family> {
        let one = |v: String| vec![(String::new(), v)];
        let by = |key: &str, items: Vec<(&str, String)>| {
            items
                .into_iter()
                .map(|(n, v)| (format!(",{key}=\"{}\"", label(n)), v))
                .collect::<Vec<_>>()
        };
        let sources = |f: fn(&SourceFigures) -> String| {
            by(
                "source",
                self.sources
                    .iter()
                    .map(|x| (x.name.as_str(), f(x)))
                    .collect(),
            )
        };
        let targets = |f: fn(&TargetFigures) -> String| {
            by(
                "target",
                self.targets
                    .iter()
                    .map(|x| (x.name.as_str(), f(x)))
                    .collect(),
            )
        };
        vec![
            (
                "strata_last_run_timestamp_seconds",
                "When the last backup run ended.",
                one(self.run_time.to_string()),
            ),
            (
                "strata_last_run_exit_code",
                "Exit code of the last backup run (0 ok, 1 warnings, 2 failed or partial).",
                one(self.exit_code.to_string()),
            ),
            (
                "strata_last_run_success",
                "1 if the last backup run succeeded (exit code 0 or 1).",
                one(((self.exit_code <= 1) as u8).to_string()),
            ),
            (
                "strata_last_success_timestamp_seconds",
                "When the newest complete event ended.",
                one(self.last_success.to_string()),
            ),
            (
                "strata_last_run_duration_seconds",
                "Duration of the last backup run.",
                one(self.duration.to_string()),
            ),
            (
                "strata_last_run_bytes_in",
                "Uncompressed bytes read by the last run.",
                one(self.bytes_in.to_string()),
            ),
            (
                "strata_last_run_bytes_out",
                "Archive bytes written by the last run.",
                one(self.bytes_out.to_string()),
            ),
            (
                "strata_last_run_members",
                "Members written by the last run.",
                one(self.members.to_string()),
            ),
            (
                "strata_last_run_warnings",
                "Warnings of the last run.",
                one(self.warnings.to_string()),
            ),
            (
                "strata_source_members",
                "Members a source wrote in the last run.",
                sources(|x| x.members.to_string()),
            ),
            (
                "strata_source_bytes",
                "Uncompressed bytes a source wrote in the last run.",
                sources(|x| x.bytes.to_string()),
            ),
            (
                "strata_source_failed",
                "1 if a source failed in the last run.",
                sources(|x| (x.failed as u8).to_string()),
            ),
            (
                "strata_target_last_event_copied",
                "1 if the last event is proven on the target.",
                targets(|x| (x.last_copied as u8).to_string()),
            ),
            (
                "strata_target_pending_events",
                "Events not yet copied to the target.",
                targets(|x| x.pending.to_string()),
            ),
        ]
    }

    /// The text format, one HELP and TYPE per family, every sample labelled `host`.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let host = label(&self.host);
        for (name, help, samples) in self.families() {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (labels, value) in samples {
                let _ = writeln!(s, "{name}{{host=\"{host}\"{labels}}} {value}");
            }
        }
        s
    }
}
