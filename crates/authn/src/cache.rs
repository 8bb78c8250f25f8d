//! The verified-token cache (upstream: `token/cache`, success TTL 10 s, failures not cached):
//! bounded in size and time, keyed by the token's SHA-256, never serving a token past its own
//! `exp`, and emptied whenever an object tokens depend on is deleted (so revocation is not
//! delayed by the cache).

use api_types::UserInfo;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Entry {
    user: UserInfo,
    until: Instant,
    /// The token's own `exp` (seconds since the epoch), if it has one.
    exp: Option<i64>,
    generation: u64,
}

/// A bounded TTL cache of successful token authentications.
pub struct TokenCache {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
    ttl: Duration,
    max: usize,
    /// Bumped on every deletion of a service account, secret or pod: older entries are void.
    generation: Arc<AtomicU64>,
}

fn digest(token: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl TokenCache {
    /// A cache keeping successes for `ttl`, at most `max` entries.
    pub fn new(ttl: Duration, max: usize) -> Self {
        TokenCache {
            entries: Mutex::new(HashMap::new()),
            ttl,
            max,
            generation: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The counter to bump when an object tokens depend on goes away.
    pub fn generation(&self) -> Arc<AtomicU64> {
        self.generation.clone()
    }

    /// A cached user, if fresh. `now_unix` is the clock tokens' `exp` is compared with.
    pub fn get(&self, token: &str, now_unix: i64) -> Option<UserInfo> {
        let generation = self.generation.load(Ordering::SeqCst);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let key = digest(token);
        let e = entries.get(&key)?;
        if e.generation == generation
            && Instant::now() < e.until
            && e.exp.is_none_or(|exp| now_unix < exp)
        {
            return Some(e.user.clone());
        }
        entries.remove(&key);
        None
    }

    /// Remembers a successful authentication.
    pub fn put(&self, token: &str, user: &UserInfo, exp: Option<i64>) {
        let generation = self.generation.load(Ordering::SeqCst);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.max {
            let now = Instant::now();
            entries.retain(|_, e| e.until > now && e.generation == generation);
            if entries.len() >= self.max {
                // Still full of fresh entries: drop an arbitrary half rather than grow.
                let drop: Vec<[u8; 32]> = entries
                    .keys()
                    .take(entries.len() / 2 + 1)
                    .copied()
                    .collect();
                for k in drop {
                    entries.remove(&k);
                }
            }
        }
        entries.insert(
            digest(token),
            Entry {
                user: user.clone(),
                until: Instant::now() + self.ttl,
                exp,
                generation,
            },
        );
    }

    /// How many tokens are cached.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: &str) -> UserInfo {
        UserInfo {
            name: n.into(),
            ..Default::default()
        }
    }

    #[test]
    fn ttl_expiry_invalidation_and_bound() {
        let c = TokenCache::new(Duration::from_secs(10), 4);
        c.put("a", &user("a"), Some(1_000));
        assert_eq!(c.get("a", 999).unwrap().name, "a");
        assert!(
            c.get("a", 1_000).is_none(),
            "never past the token's own expiry"
        );
        c.put("b", &user("b"), None);
        c.generation().fetch_add(1, Ordering::SeqCst);
        assert!(c.get("b", 0).is_none(), "a deletion voids every entry");
        for t in ["1", "2", "3", "4", "5", "6"] {
            c.put(t, &user(t), None);
        }
        assert!(c.len() <= 4, "bounded");
        let short = TokenCache::new(Duration::from_millis(0), 4);
        short.put("x", &user("x"), None);
        assert!(short.get("x", 0).is_none(), "bounded in time");
    }
}
