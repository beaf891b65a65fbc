//! `--db` URLs: `sqlite:PATH` (also `sqlite://PATH`) and `postgres://…` / `postgresql://…` (libpq's URL form,
//! passed to the client as it is).

use crate::{Error, Result};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

const EXPECTED: &str = "expected sqlite:PATH or postgres://USER@HOST:PORT/DATABASE";

impl StoreUrl {
    pub fn parse(url: &str) -> Result<StoreUrl> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(Error::config("db", format!("{EXPECTED}; `{url}` names no file")));
            }
            return Ok(StoreUrl::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let rest = url.split_once("://").map_or("", |(_, r)| r);
            if rest.is_empty() || rest.starts_with('/') && rest.len() == 1 {
                return Err(Error::config("db", format!("{EXPECTED}; `{}` names no server", redact(url))));
            }
            return Ok(StoreUrl::Postgres(url.to_string()));
        }
        Err(Error::config("db", format!("{EXPECTED}, found `{}`", redact(url))))
    }
}

/// `url` with any password replaced by `***`, for messages and logs.
pub fn redact(url: &str) -> String {
    let mut out = match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => {
                    let user = userinfo.split_once(':').map_or(userinfo.to_string(), |(u, _)| format!("{u}:***"));
                    format!("{scheme}://{user}@{host}{tail}")
                }
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    };
    // A password given as a query parameter is hidden too.
    if let Some(i) = out.find("password=") {
        let start = i + "password=".len();
        let end = out[start..].find('&').map_or(out.len(), |j| start + j);
        out.replace_range(start..end, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_kinds_and_names_what_is_wrong() {
        assert_eq!(StoreUrl::parse("sqlite:m.db").unwrap(), StoreUrl::Sqlite("m.db".into()));
        assert_eq!(StoreUrl::parse("sqlite:///tmp/m.db").unwrap(), StoreUrl::Sqlite("/tmp/m.db".into()));
        let pg = "postgres://u@127.0.0.1:5433/db";
        assert_eq!(StoreUrl::parse(pg).unwrap(), StoreUrl::Postgres(pg.into()));
        for bad in ["m.db", "mysql://x/y", "sqlite:", "postgres://", "postgres:///"] {
            let e = StoreUrl::parse(bad).unwrap_err().to_string();
            assert!(e.contains("expected sqlite:PATH or postgres://"), "{bad}: {e}");
        }
    }

    #[test]
    fn passwords_never_reach_messages() {
        let e = StoreUrl::parse("mysql://me:hunter2@h/db").unwrap_err().to_string();
        assert!(!e.contains("hunter2") && e.contains("me:***@h/db"), "{e}");
        assert_eq!(redact("postgres://h/db?user=a&password=s3&x=1"), "postgres://h/db?user=a&password=***&x=1");
        assert_eq!(redact("postgres://a@h/db"), "postgres://a@h/db");
    }
}
