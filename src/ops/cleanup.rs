//! Leftovers of runs that died: events still marked running and `.partial` files. Run
//! under the repository lock, so nothing found here can belong to a live process.

use crate::catalog::Catalog;
use crate::error::Result;
use crate::model::INTERRUPTED;
use std::path::Path;

/// Marks dead running events interrupted and removes their files and stray partials.
/// Returns a line per thing cleaned.
pub fn leftovers(repo: &Path, cat: &Catalog) -> Result<Vec<String>> {
    let mut done = Vec::new();
    let now = chrono::Utc::now().timestamp();
    for ev in cat.running_events()? {
        if !ev.file.is_empty() {
            let tar = repo.join(&ev.file);
            for ext in [".partial", "", ".sha256"] {
                let mut p = tar.as_os_str().to_owned();
                p.push(ext);
                let _ = std::fs::remove_file(&p);
            }
        }
        cat.fail_event(
            ev.id,
            INTERRUPTED,
            now,
            "the backup process died before the event completed (found by the next run)",
            ev.warnings,
        )?;
        done.push(format!(
            "event {} was interrupted; marked so and its files removed",
            ev.id
        ));
    }
    for entry in walkdir::WalkDir::new(repo)
        .max_depth(3)
        .into_iter()
        .flatten()
    {
        if entry.file_type().is_file() && entry.path().extension().is_some_and(|e| e == "partial") {
            let _ = std::fs::remove_file(entry.path());
            done.push(format!("removed leftover {}", entry.path().display()));
        }
    }
    Ok(done)
}
