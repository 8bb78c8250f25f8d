//! The static token file (`--token-auth-file`, `authentication/token/tokenfile/tokenfile.go`):
//! CSV rows `token,user,uid[,"group1,group2"]`. Tokens are kept only as SHA-256 digests and
//! compared in constant time.

use crate::TokenAuthenticator;
use api_types::UserInfo;
use std::collections::HashMap;

/// Why a token file was refused at startup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenFileError {
    /// A row with fewer than three columns (upstream's message).
    #[error("token file '{path}' must have at least 3 columns (token, user name, user uid), found {found}")]
    TooFewColumns {
        /// The file.
        path: String,
        /// The columns the row had.
        found: usize,
    },
    /// A quoted field that never closes.
    #[error("token file '{path}': unterminated quoted field on line {line}")]
    Unterminated {
        /// The file.
        path: String,
        /// The line (1-based).
        line: usize,
    },
}

/// Users by token digest.
pub struct TokenFile {
    users: HashMap<[u8; 32], (UserInfo, [u8; 32])>,
}

fn digest(token: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// `encoding/csv` fields of one record: commas separate, double quotes quote, `""` escapes.
fn csv_fields(line: &str) -> Option<Vec<String>> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', false) if fields.last().is_some_and(String::is_empty) => quoted = true,
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut()?.push('"');
            }
            ('"', true) => quoted = false,
            (',', false) => fields.push(String::new()),
            (c, _) => fields.last_mut()?.push(c),
        }
    }
    (!quoted).then_some(fields)
}

impl TokenFile {
    /// Parses the file's text; `path` is only for messages.
    pub fn parse(path: &str, text: &str) -> Result<TokenFile, TokenFileError> {
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let f = csv_fields(line).ok_or(TokenFileError::Unterminated {
                path: path.into(),
                line: i + 1,
            })?;
            if f.len() < 3 {
                return Err(TokenFileError::TooFewColumns {
                    path: path.into(),
                    found: f.len(),
                });
            }
            if f[0].is_empty() {
                continue;
            }
            let groups = f
                .get(3)
                .map(|g| {
                    g.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            let user = UserInfo {
                name: f[1].clone(),
                uid: f[2].clone(),
                groups,
                ..Default::default()
            };
            let d = digest(&f[0]);
            // A later row with the same token wins, as upstream.
            users.insert(d, (user, d));
        }
        Ok(TokenFile { users })
    }

    /// How many tokens the file holds.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

impl TokenAuthenticator for TokenFile {
    fn authenticate_token(&self, token: &str) -> Option<Result<UserInfo, String>> {
        let d = digest(token);
        let (user, stored) = self.users.get(&d)?;
        constant_time_eq(stored, &d).then(|| Ok(user.clone()))
    }
}

/// Compares two digests without an early exit.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_as_upstream() {
        let tf = TokenFile::parse(
            "t.csv",
            "abc,alice,1,\"devs,ops\"\n\n,skipped,2\nxyz,bob,3\nxyz,carol,4,extra-col-ignored,x\n",
        )
        .unwrap();
        let alice = tf.authenticate_token("abc").unwrap().unwrap();
        assert_eq!(
            (
                alice.name.as_str(),
                alice.uid.as_str(),
                alice.groups.clone()
            ),
            ("alice", "1", vec!["devs".to_string(), "ops".to_string()])
        );
        assert_eq!(
            tf.authenticate_token("xyz").unwrap().unwrap().name,
            "carol",
            "a later row wins"
        );
        assert!(tf.authenticate_token("abd").is_none());
        assert!(tf.authenticate_token("").is_none());
        assert_eq!(tf.len(), 2);
        assert_eq!(
            TokenFile::parse("t.csv", "a,b\n")
                .err()
                .unwrap()
                .to_string(),
            "token file 't.csv' must have at least 3 columns (token, user name, user uid), found 2"
        );
        assert!(TokenFile::parse("t.csv", "a,b,\"c\n").is_err());
    }
}
