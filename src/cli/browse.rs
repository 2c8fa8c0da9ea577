//! `list`, `show` and `cat`: looking at the catalog and streaming members out.

use super::{fmt, Env};
use crate::error::{exit, Error, IoContext, Result};
use crate::ops::{self, EventRef};
use serde_json::json;
use std::io::Write;

pub fn list(env: &Env, as_json: bool, all: bool) -> Result<u8> {
    let cat = env.catalog()?;
    if !as_json {
        return list_table(env, &cat, all);
    }
    let events = cat.events()?;
    let copies = cat.copies()?;
    let totals = cat.member_totals()?;
    let ratio = |e: &crate::model::Event| {
        let (_, raw) = totals.get(&e.id).copied().unwrap_or((0, 0));
        (e.bytes > 0 && raw > 0).then(|| raw as f64 / e.bytes as f64)
    };
    let copies_of = |id: i64| copies.iter().filter(move |c| c.event_id == id);
    let local = |e: &crate::model::Event| !e.file.is_empty() && env.repo.join(&e.file).is_file();
    let mut out = std::io::stdout().lock();
    {
        let v: Vec<_> = events
            .iter()
            .map(|e| {
                let mut v = event_json(e);
                let (members, raw) = totals.get(&e.id).copied().unwrap_or((0, 0));
                v["members"] = json!(members);
                v["uncompressed_bytes"] = json!(raw);
                v["ratio"] = json!(ratio(e).map(|r| (r * 100.0).round() / 100.0));
                v["duration"] = json!(e.end_time.map(|t| t - e.start_time));
                v["local"] = json!(local(e));
                v["copies"] = json!(copies_of(e.id)
                    .map(|c| json!({
                        "target": c.target, "state": c.state.as_str(), "size": c.size,
                        "sha256": c.sha256, "time": c.time.map(crate::format::meta::rfc3339),
                        "error": c.error,
                    }))
                    .collect::<Vec<_>>());
                v
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&v).expect("json"))
            .ctx(|| "stdout".into())?;
    }
    Ok(exit::OK)
}

/// Where an event's archive is: `local`, and each target with the state of its copy.
fn places(
    env: &Env,
    cat: &crate::catalog::Catalog,
    e: &crate::model::Event,
) -> Result<Vec<String>> {
    let local = !e.file.is_empty() && env.repo.join(&e.file).is_file();
    let mut place: Vec<String> = local.then(|| "local".to_string()).into_iter().collect();
    let copies = cat.copies_of(e.id)?;
    for c in copies
        .iter()
        .filter(|c| c.state != crate::catalog::CopyState::Removed)
    {
        place.push(match c.state {
            crate::catalog::CopyState::Done => c.target.clone(),
            s => format!("{}({})", c.target, s.as_str()),
        });
    }
    if e.is_readable() {
        for t in env.targets() {
            if !copies.iter().any(|c| c.target == t.name) {
                place.push(format!("{}(pending)", t.name));
            }
        }
    }
    Ok(place)
}

/// The table of `strata list`: an event per row, except that a run of clean
/// binlog-only events is one row (`binlog`, its ids `FIRST-LAST`, where its first and
/// last events are) unless `all`. So the listing stays short and fast however many
/// small events `binlog --follow` made.
fn list_table(env: &Env, cat: &crate::catalog::Catalog, all: bool) -> Result<u8> {
    let mut rows = vec![[
        "ID", "DATE", "STATUS", "SIZE", "DURATION", "RATIO", "WARN", "WHERE",
    ]
    .map(String::from)
    .to_vec()];
    let runs: Vec<crate::catalog::Run> = if all {
        cat.events()?
            .iter()
            .map(|e| crate::catalog::Run {
                first: e.id,
                last: e.id,
                count: 1,
                bytes: e.bytes,
                binlog: false,
            })
            .collect()
    } else {
        cat.list_runs()?
    };
    let event = |id| {
        cat.event(id)?
            .ok_or_else(|| Error::Other(format!("event {id} vanished from the catalog")))
    };
    let join = |p: Vec<String>| {
        if p.is_empty() {
            "-".to_string()
        } else {
            p.join(",")
        }
    };
    for r in runs {
        if r.count > 1 {
            // Clean complete events, by construction: their row needs no more.
            let brief = |id| -> Result<crate::model::Event> {
                let (start_time, file) = cat.event_brief(id)?;
                Ok(crate::model::Event {
                    id,
                    start_time,
                    file,
                    completed: crate::model::COMPLETE,
                    ..Default::default()
                })
            };
            let (e, last) = (brief(r.first)?, brief(r.last)?);
            let mut place = places(env, cat, &e)?;
            for p in places(env, cat, &last)? {
                if !place.contains(&p) {
                    place.push(p);
                }
            }
            rows.push(vec![
                format!("{}-{}", r.first, r.last),
                fmt::date(e.start_time),
                format!("binlog x{}", r.count),
                fmt::size(r.bytes),
                format!("to {}", fmt::date(last.start_time)),
                "-".into(),
                "0".into(),
                join(place),
            ]);
            continue;
        }
        let e = event(r.first)?;
        let (_, raw) = cat.member_total(e.id)?;
        let ratio = (e.bytes > 0 && raw > 0).then(|| raw as f64 / e.bytes as f64);
        rows.push(vec![
            e.id.to_string(),
            fmt::date(e.start_time),
            if r.binlog { "binlog" } else { e.status() }.into(),
            fmt::size(e.bytes),
            e.end_time
                .map(|t| fmt::duration(t - e.start_time))
                .unwrap_or_else(|| "-".into()),
            ratio
                .map(|r| format!("{r:.1}x"))
                .unwrap_or_else(|| "-".into()),
            e.warnings.to_string(),
            join(places(env, cat, &e)?),
        ]);
    }
    let mut out = std::io::stdout().lock();
    fmt::table(&mut out, &rows).ctx(|| "stdout".into())?;
    Ok(exit::OK)
}

/// An event as JSON: the catalog row, its status, and times in RFC 3339 (UTC).
fn event_json(e: &crate::model::Event) -> serde_json::Value {
    use crate::format::meta::rfc3339;
    let mut v = serde_json::to_value(e).expect("event serialises");
    v["status"] = json!(e.status());
    v["start_time"] = json!(rfc3339(e.start_time));
    v["end_time"] = json!(e.end_time.map(rfc3339));
    v
}

pub fn show(env: &Env, id: EventRef, as_json: bool) -> Result<u8> {
    let cat = env.catalog()?;
    let ev = ops::find_event(&cat, id)?;
    let members = cat.members(ev.id)?;
    let mut out = std::io::stdout().lock();
    if as_json {
        let copies: Vec<_> = cat
            .copies_of(ev.id)?
            .iter()
            .map(|c| json!({ "target": c.target, "state": c.state.as_str(), "size": c.size, "sha256": c.sha256, "error": c.error }))
            .collect();
        let v = json!({ "event": event_json(&ev), "status": ev.status(), "copies": copies, "members": members });
        writeln!(out, "{}", serde_json::to_string_pretty(&v).expect("json"))
            .ctx(|| "stdout".into())?;
        return Ok(exit::OK);
    }
    let mut text = format!(
        "event {}  {}  {}  host {}  archive {} ({})\n",
        ev.id,
        fmt::date(ev.start_time),
        ev.status(),
        ev.host,
        ev.file,
        fmt::size(ev.bytes)
    );
    if let Some(e) = &ev.error {
        text.push_str(&format!("error: {e}\n"));
    }
    for (k, v) in &ev.info {
        text.push_str(&format!("{k}: {v}\n"));
    }
    for c in cat.copies_of(ev.id)? {
        text.push_str(&format!(
            "copy on target {}: {}{}\n",
            c.target,
            c.state.as_str(),
            c.error.map(|e| format!(" ({e})")).unwrap_or_default()
        ));
    }
    out.write_all(text.as_bytes()).ctx(|| "stdout".into())?;
    let mut rows = vec![vec![
        "KIND".into(),
        "SIZE".into(),
        "STORED".into(),
        "PATH".into(),
    ]];
    for m in &members {
        let path = match &m.link_target {
            Some(t) => format!("{} -> {t}", m.path),
            None => m.path.clone(),
        };
        rows.push(vec![
            m.kind.as_str().into(),
            m.size.to_string(),
            m.compressed_size.to_string(),
            path,
        ]);
    }
    fmt::table(&mut out, &rows).ctx(|| "stdout".into())?;
    Ok(exit::OK)
}

pub fn cat(env: &Env, id: EventRef, path: &str) -> Result<u8> {
    let cat = env.catalog()?;
    let ev = ops::complete_event(&cat, id)?;
    let id = ev.id;
    let path = path.trim_matches('/');
    let m = cat.member(id, path)?.ok_or_else(|| {
        Error::NotFound(format!(
            "no member {path} in event {id}; `strata show {id}` lists them"
        ))
    })?;
    if !m.kind.has_content() {
        return Err(Error::Other(format!(
            "{path} is a {}, not a file",
            m.kind.as_str()
        )));
    }
    let store = env.store()?;
    let mut r = ops::read::member(&store, &ev.file, &m)?;
    let mut out = std::io::stdout().lock();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut r, &mut buf).map_err(|e| Error::Other(e.to_string()))?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).ctx(|| "stdout".into())?;
    }
    out.flush().ctx(|| "stdout".into())?;
    env.report_fetched(&store);
    Ok(exit::OK)
}

/// `strata diff`: one line per changed member (`+` added, `-` removed, `M` content,
/// `m` metadata only), exit 1 when anything differs, as diff(1) does.
pub fn diff(
    env: &Env,
    old: EventRef,
    new: EventRef,
    paths: &[String],
    as_json: bool,
) -> Result<u8> {
    let cat = env.catalog()?;
    let old = ops::complete_event(&cat, old)?;
    let new = ops::complete_event(&cat, new)?;
    if let ([path], false) = (paths, as_json) {
        if let Some(code) = content_diff(env, &cat, (&old, &new), path)? {
            return Ok(code);
        }
    }
    let (old, new) = (old.id, new.id);
    let entries = crate::ops::diff::members(&cat.members(old)?, &cat.members(new)?, paths);
    let mut out = std::io::stdout().lock();
    if as_json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&entries).expect("json")
        )
        .ctx(|| "stdout".into())?;
    } else {
        for e in &entries {
            let sizes = match (e.old_size, e.new_size) {
                (Some(a), Some(b)) if a != b => format!("  ({} -> {})", fmt::size(a), fmt::size(b)),
                _ => String::new(),
            };
            writeln!(out, "{} {}{sizes}", e.change.mark(), e.path).ctx(|| "stdout".into())?;
        }
    }
    Ok(if entries.is_empty() {
        exit::OK
    } else {
        exit::WARN
    })
}

/// The verified bytes of `m` of `e`, or nothing when it is absent.
fn open_member<'a>(
    store: &'a dyn crate::store::Store,
    e: &'a crate::model::Event,
    m: &'a Option<crate::model::Member>,
) -> Result<Box<dyn std::io::BufRead + 'a>> {
    Ok(match m {
        Some(m) => Box::new(std::io::BufReader::with_capacity(
            1 << 20,
            ops::read::member(store, &e.file, m)?,
        )),
        None => Box::new(std::io::empty()),
    })
}

/// `strata diff A B PATH` where PATH is one member with content (a file, a command's
/// output, SQL, a binlog) in either event: its unified diff, streamed (`ops::textdiff`);
/// `None` when PATH is not such a member (then members are listed).
fn content_diff(
    env: &Env,
    cat: &crate::catalog::Catalog,
    (old, new): (&crate::model::Event, &crate::model::Event),
    path: &str,
) -> Result<Option<u8>> {
    use crate::model::MemberKind;
    let has_content =
        |m: &crate::model::Member| !matches!(m.kind, MemberKind::Dir | MemberKind::Symlink);
    let a = cat.member(old.id, path)?.filter(has_content);
    let b = cat.member(new.id, path)?.filter(has_content);
    if a.is_none() && b.is_none() {
        return Ok(None);
    }
    if let (Some(x), Some(y)) = (&a, &b) {
        if x.sha256.is_some() && x.sha256 == y.sha256 {
            return Ok(Some(exit::OK));
        }
    }
    let store = env.store()?;
    let with_frames = |e: &crate::model::Event, m: &Option<crate::model::Member>| match m {
        Some(m) => Ok::<_, Error>(
            cat.members_with_frames(e.id)?
                .into_iter()
                .find(|x| x.path == m.path),
        ),
        None => Ok(None),
    };
    let (fa, fb) = (with_frames(old, &a)?, with_frames(new, &b)?);
    let name = |e: &crate::model::Event, m: &Option<crate::model::Member>, side: &str| match m {
        Some(_) => format!("{side}/{path}\tevent {}", e.id),
        None => "/dev/null".to_string(),
    };
    if [&a, &b]
        .iter()
        .any(|m| m.as_ref().is_some_and(|m| m.kind == MemberKind::Binlog))
    {
        println!(
            "Binary members {}:{path} and {}:{path} differ",
            old.id, new.id
        );
        return Ok(Some(exit::WARN));
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let differ = crate::ops::textdiff::unified(
        open_member(&store, old, &fa)?,
        open_member(&store, new, &fb)?,
        (&name(old, &a, "a"), &name(new, &b, "b")),
        &mut out,
    )
    .and_then(|d| std::io::Write::flush(&mut out).map(|_| d))
    .map_err(|e| crate::archive::reader::into_error(e, path))?;
    env.report_fetched(&store);
    Ok(Some(if differ { exit::WARN } else { exit::OK }))
}

/// `strata diff A B PATH --rows|--stat`: the row changes of one table member, streamed.
pub fn row_diff(
    env: &Env,
    (old, new): (EventRef, EventRef),
    paths: &[String],
    as_json: bool,
    stat_only: bool,
) -> Result<u8> {
    let [path] = paths else {
        return Err(Error::Other(
            "--rows and --stat compare one table member: give its path, e.g. db/shop/orders.sql"
                .into(),
        ));
    };
    let path = path.trim_matches('/');
    let cat = env.catalog()?;
    let (a, b) = (
        ops::complete_event(&cat, old)?,
        ops::complete_event(&cat, new)?,
    );
    let table = |id: i64| -> Result<crate::model::Member> {
        let m = cat.member(id, path)?.ok_or_else(|| {
            Error::NotFound(format!(
                "no member {path} in event {id}; `strata show {id}` lists them"
            ))
        })?;
        if m.kind != crate::model::MemberKind::Table {
            return Err(Error::Other(format!(
                "{path} is a {}, not a table dump: --rows compares tables",
                m.kind.as_str()
            )));
        }
        Ok(m)
    };
    let (ma, mb) = (table(a.id)?, table(b.id)?);
    let store = env.store()?;
    let ra = ops::read::member(&store, &a.file, &ma)?;
    let rb = ops::read::member(&store, &b.file, &mb)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let stdout = |e: std::io::Error| Error::io("stdout", e);
    if as_json && !stat_only {
        out.write_all(b"{\"changes\":[").map_err(stdout)?;
    }
    let mut first = true;
    let stat = ops::rowdiff::rows(ra, rb, ma.size + mb.size, &mut |c| {
        use ops::rowdiff::RowChange;
        if stat_only {
            return Ok(());
        }
        if as_json {
            let sep = if std::mem::take(&mut first) { "" } else { "," };
            let line = serde_json::to_string(&c).expect("json");
            return write!(out, "{sep}\n{line}").map_err(stdout);
        }
        let (old, new) = (c.old.unwrap_or_default(), c.new.unwrap_or_default());
        match c.change {
            RowChange::Added => writeln!(out, "+ {new}"),
            RowChange::Removed => writeln!(out, "- {old}"),
            RowChange::Changed => writeln!(out, "~ {old}\n  -> {new}"),
        }
        .map_err(stdout)
    })
    .map_err(|e| Error::Other(format!("{path}: {e}")))?;
    if as_json {
        let s = serde_json::to_string(&stat).expect("json");
        if stat_only {
            writeln!(out, "{s}")
        } else {
            writeln!(out, "\n],\"stat\":{s}}}")
        }
        .map_err(stdout)?;
    } else {
        writeln!(
            out,
            "{}{} added, {} removed, {} changed ({} -> {} rows)",
            if stat_only { "" } else { "# " },
            stat.added,
            stat.removed,
            stat.changed,
            stat.old_rows,
            stat.new_rows
        )
        .map_err(stdout)?;
    }
    out.flush().map_err(stdout)?;
    env.report_fetched(&store);
    Ok(if stat.added + stat.removed + stat.changed == 0 {
        exit::OK
    } else {
        exit::WARN
    })
}

/// `strata list --pitr`: recoverable windows and gaps per source, from the catalog.
pub fn pitr(env: &Env, as_json: bool) -> Result<u8> {
    use crate::ops::pitr;
    let spans = pitr::all(&env.catalog()?)?;
    let mut out = std::io::stdout().lock();
    let stdout = |e: std::io::Error| Error::io("stdout", e);
    if as_json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&spans).expect("json")
        )
        .map_err(stdout)?;
    } else {
        writeln!(
            out,
            "{:<10} {:<7} {:<20} {:<20} EVENTS",
            "SOURCE", "", "FROM", "TO"
        )
        .map_err(stdout)?;
        for s in &spans {
            let events = if s.first_event == s.last_event {
                s.first_event.to_string()
            } else {
                format!("{}-{}", s.first_event, s.last_event)
            };
            let kind = match s.kind {
                pitr::Kind::Window => "window",
                pitr::Kind::Gap => "GAP",
            };
            let detail = s
                .detail
                .as_deref()
                .map(|d| format!("  ({d})"))
                .unwrap_or_default();
            writeln!(
                out,
                "{:<10} {kind:<7} {:<20} {:<20} {events}{detail}",
                s.source,
                fmt::date(s.from),
                fmt::date(s.to)
            )
            .map_err(stdout)?;
        }
    }
    let gaps = spans.iter().any(|s| s.kind == pitr::Kind::Gap);
    Ok(if gaps { exit::WARN } else { exit::OK })
}
