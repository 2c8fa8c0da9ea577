//! How database and table names become member path components: a reversible
//! percent-encoding that never creates a directory and never collides with strata's own
//! members (`.database.sql`, `.objects.sql`) or with another name. `docs/FORMAT.md`
//! ("Names of database members") is the prose version.
//!
//! A byte is written as `%XX` (upper-case hex) when it is `%`, `/`, a control byte
//! (below 0x20, or 0x7F), or a `.` that starts a table name; database names have every
//! `.` encoded, so that a database directory `d` and the whole-database file `d.sql`
//! of another database can never meet. Every other byte (UTF-8 included) is kept.

/// The path component of a table name (`<table>` of `<table>.sql`).
pub fn table(name: &str) -> String {
    encode(name, false)
}

/// The directory name of a database.
pub fn database(name: &str) -> String {
    encode(name, true)
}

fn encode(name: &str, all_dots: bool) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, ch) in name.char_indices() {
        let escape = matches!(ch, '%' | '/' | '\u{0}'..='\u{1f}' | '\u{7f}')
            || (ch == '.' && (all_dots || i == 0));
        if escape {
            out.push_str(&format!("%{:02X}", ch as u32));
        } else {
            out.push(ch);
        }
    }
    out
}

/// The name a component encodes, or `None` if it is not a valid encoding.
pub fn decode(component: &str) -> Option<String> {
    let b = component.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = component.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_encode_to_one_safe_component_and_back() {
        let names = [
            ".objects",
            ".database",
            "a/b",
            "..",
            ".",
            "with space",
            "back`tick",
            "quo'te\"",
            "trailing ",
            "50%",
            "tablé ☃",
            "x.sql",
            "tab\tnl\n",
        ];
        let mut seen = std::collections::HashSet::new();
        for n in names {
            for (enc, db) in [(table(n), false), (database(n), true)] {
                assert!(!enc.contains('/') && !enc.is_empty(), "{enc}");
                assert!(!enc.starts_with('.'), "{enc}");
                assert!(!enc.chars().any(|c| c.is_control()), "{enc:?}");
                if db {
                    assert!(!enc.contains('.'), "{enc}");
                }
                assert_eq!(decode(&enc).as_deref(), Some(n));
            }
            assert!(seen.insert(table(n)), "collision for {n}");
        }
        assert_eq!(table("tablé ☃"), "tablé ☃");
        assert_eq!(table("a.b"), "a.b");
        assert_eq!(database("a.b"), "a%2Eb");
        let long: String = "é".repeat(64);
        assert!(format!("{}.sql.zst", table(&long)).len() <= 255);
    }
}
