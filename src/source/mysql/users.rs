//! Users, roles and their grants (`users = true`), as `mariadb-dump --system=users`
//! and MySQL Shell's `dumpInstance` offer them: one member, `<source>/.users.sql`, of
//! `CREATE ROLE`/`CREATE USER IF NOT EXISTS` (the server's own `SHOW CREATE USER`, with
//! its authentication) and `SHOW GRANTS`. Never applied by a database restore or by
//! `strata load`: a DBA applies it on purpose (`mariadb < .users.sql`). An account that
//! cannot be read is a warning naming it.

use super::connect::Connect;
use super::sql::quote_str;
use crate::error::Result;
use mysql::prelude::Queryable;
use mysql::Conn;
use std::fmt::Write as _;

/// Accounts of the server itself, never dumped.
const SYSTEM: [(&str, &str); 4] = [
    ("mariadb.sys", "localhost"),
    ("mysql.sys", "localhost"),
    ("mysql.session", "localhost"),
    ("mysql.infoschema", "localhost"),
];

/// The users member's SQL.
pub fn dump(conn: &mut Conn, c: &Connect, warn: &mut dyn FnMut(String)) -> Result<Vec<u8>> {
    // MariaDB marks roles in mysql.user; MySQL has no is_role (its roles are locked
    // accounts, dumped as users).
    let accounts: Vec<(String, String, String)> = conn
        .query(
            "SELECT User, Host, IF(is_role = 'Y', 'role', 'user') FROM mysql.user ORDER BY is_role DESC, User, Host",
        )
        .or_else(|_| conn.query("SELECT User, Host, 'user' FROM mysql.user ORDER BY User, Host"))
        .map_err(|e| c.err(&e))?;
    let mut out = String::from(
        "-- Users, roles and grants. Applied only on purpose: mariadb < .users.sql\nSET NAMES utf8mb4;\n",
    );
    let account = |u: &str, h: &str| format!("{}@{}", quote_str(u), quote_str(h));
    // Roles first: a user's grants may name them.
    for (user, _, _) in accounts.iter().filter(|a| a.2 == "role") {
        let _ = writeln!(out, "CREATE ROLE IF NOT EXISTS {};", quote_str(user));
    }
    for (user, host, kind) in &accounts {
        if SYSTEM.contains(&(user.as_str(), host.as_str())) {
            continue;
        }
        let who = if kind == "role" {
            quote_str(user)
        } else {
            account(user, host)
        };
        if kind == "user" {
            match conn.query_first::<String, _>(format!("SHOW CREATE USER {who}")) {
                Ok(Some(create)) => {
                    let create = create.replacen("CREATE USER ", "CREATE USER IF NOT EXISTS ", 1);
                    let _ = writeln!(out, "{create};");
                }
                Ok(None) | Err(_) => {
                    warn(format!(
                        "user {who}: SHOW CREATE USER failed; it is not backed up"
                    ));
                    continue;
                }
            }
        }
        match conn.query::<String, _>(format!("SHOW GRANTS FOR {who}")) {
            Ok(grants) => {
                for g in grants {
                    let _ = writeln!(out, "{};", without_authentication(&g));
                }
            }
            Err(e) => warn(format!(
                "{kind} {who}: its grants are not readable ({}); they are not backed up",
                super::connect::one_line(&e)
            )),
        }
    }
    Ok(out.into_bytes())
}

/// A `GRANT` without its `IDENTIFIED ...` clause: the account's authentication comes
/// from its `CREATE USER`, and a grant must never change that of an account the target
/// already has (its root, say).
fn without_authentication(grant: &str) -> String {
    let Some(at) = grant.find(" IDENTIFIED ") else {
        return grant.to_string();
    };
    let end = grant[at..].find(" WITH ").map_or(grant.len(), |e| at + e);
    format!("{}{}", &grant[..at], &grant[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_never_carry_authentication() {
        assert_eq!(
            without_authentication("GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` IDENTIFIED VIA mysql_native_password USING 'invalid' OR unix_socket WITH GRANT OPTION"),
            "GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"
        );
        assert_eq!(
            without_authentication("GRANT USAGE ON *.* TO `u1`@`%` IDENTIFIED BY PASSWORD '*D8'"),
            "GRANT USAGE ON *.* TO `u1`@`%`"
        );
    }
}
