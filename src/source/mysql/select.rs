//! Which databases and tables a `mysql` source takes: lists of names in the config,
//! where an entry holding `*` or `?` is a glob (`[...]` is a class only inside such an
//! entry) and any other entry is an exact name, so a database called `fid[1]` is
//! selected by writing its name. A name always matches itself exactly. System schemas
//! are taken only when named exactly, never by a glob or by default.

use globset::{Glob, GlobSet, GlobSetBuilder};

/// Schemas of the server itself: never dumped unless named exactly.
pub const SYSTEM_DATABASES: [&str; 4] =
    ["information_schema", "performance_schema", "sys", "mysql"];

/// Exact names and globs.
#[derive(Clone, Default, Debug)]
pub struct Names {
    exact: Vec<String>,
    globs: GlobSet,
    patterns: Vec<(String, globset::GlobMatcher)>,
}

/// An entry that is a glob.
pub fn is_pattern(entry: &str) -> bool {
    entry.contains(['*', '?'])
}

impl Names {
    /// Builds from config entries; the error is the glob's own message.
    pub fn new(entries: &[String]) -> Result<Names, String> {
        let mut b = GlobSetBuilder::new();
        let mut n = Names::default();
        for e in entries {
            if is_pattern(e) {
                let g = Glob::new(e).map_err(|err| format!("{e:?}: {err}"))?;
                n.patterns.push((e.clone(), g.compile_matcher()));
                b.add(g);
            }
            n.exact.push(e.clone());
        }
        n.globs = b.build().map_err(|e| e.to_string())?;
        Ok(n)
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty()
    }

    /// Named exactly (a glob entry names itself too).
    pub fn names(&self, s: &str) -> bool {
        self.exact.iter().any(|e| e == s)
    }

    pub fn is_match(&self, s: &str) -> bool {
        self.names(s) || self.globs.is_match(s)
    }

    /// Entries that are exact names (not globs).
    pub fn exact_names(&self) -> impl Iterator<Item = &str> {
        self.exact
            .iter()
            .filter(|e| !is_pattern(e))
            .map(String::as_str)
    }

    /// Glob entries that match none of `names`.
    pub fn unmatched<'a>(&'a self, names: &'a [String]) -> impl Iterator<Item = &'a str> {
        self.patterns
            .iter()
            .filter(|(_, m)| !names.iter().any(|n| m.is_match(n)))
            .map(|(p, _)| p.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_are_a_name_unless_the_entry_is_a_glob() {
        let n = Names::new(&["fid[1]".into(), "te?t*".into()]).unwrap();
        assert!(n.is_match("fid[1]"));
        assert!(!n.is_match("fid1"));
        assert!(n.is_match("test_a"));
        assert!(n.is_match("te?t*"));
        assert_eq!(n.exact_names().collect::<Vec<_>>(), vec!["fid[1]"]);
    }
}
