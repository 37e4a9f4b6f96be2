//! Which ids the mount serves: `--allow` / `--allow-file`, turned into an `AccessPolicy`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use weavedrive_cache::{AccessPolicy, TxId};

#[derive(Args, Debug, Clone, Default)]
pub struct AccessArgs {
    /// Serve only this transaction id under data/ and tx/ (repeatable); others are
    /// "permission denied" without a network request. Without --allow or --allow-file,
    /// every id is served.
    #[arg(long = "allow", value_name = "ID", allow_hyphen_values = true)]
    pub allow: Vec<TxId>,
    /// Serve only the ids listed in this file, one per line (`#` starts a comment; blank
    /// lines are ignored); adds to --allow. A file with no ids serves nothing.
    #[arg(long, value_name = "FILE")]
    pub allow_file: Option<PathBuf>,
}

impl AccessArgs {
    /// Allow everything when neither option is given, else exactly the ids named.
    pub fn policy(&self) -> anyhow::Result<AccessPolicy> {
        let Some(file) = &self.allow_file else {
            if self.allow.is_empty() {
                return Ok(AccessPolicy::AllowAll);
            }
            return Ok(AccessPolicy::allowlist(self.allow.iter().copied()));
        };
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading --allow-file {}", file.display()))?;
        let listed = parse_allow_file(file, &text)?;
        Ok(AccessPolicy::allowlist(
            self.allow.iter().copied().chain(listed),
        ))
    }
}

/// One id per line; `#` to the end of the line is a comment; surrounding space is ignored.
fn parse_allow_file(file: &Path, text: &str) -> anyhow::Result<Vec<TxId>> {
    let mut ids = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let entry = line.split('#').next().unwrap_or_default().trim();
        if entry.is_empty() {
            continue;
        }
        match entry.parse() {
            Ok(id) => ids.push(id),
            Err(e) => bail!("{}:{}: {e}", file.display(), index + 1),
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_file_skips_comments_and_names_the_bad_line() {
        let (a, b) = (TxId([1; 32]), TxId([2; 32]));
        let text = format!("# ids\n{a}\n\n  {b}  # the second\n");
        let ids = parse_allow_file(Path::new("ids.txt"), &text).unwrap();
        assert_eq!(ids, [a, b]);
        let err = parse_allow_file(Path::new("ids.txt"), &format!("{a}\n# x\nnope\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("ids.txt:3: ") && err.contains("\"nope\""),
            "{err}"
        );
    }

    #[test]
    fn no_option_allows_all_and_an_empty_file_allows_nothing() {
        let id = TxId([3; 32]);
        assert!(matches!(
            AccessArgs::default().policy().unwrap(),
            AccessPolicy::AllowAll
        ));
        let only = AccessArgs {
            allow: vec![id],
            allow_file: None,
        };
        let policy = only.policy().unwrap();
        assert!(policy.allows(&id) && !policy.allows(&TxId([4; 32])));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("none");
        std::fs::write(&file, "# nothing yet\n\n").unwrap();
        let empty = AccessArgs {
            allow: vec![],
            allow_file: Some(file),
        };
        assert!(!empty.policy().unwrap().allows(&id));
    }
}
