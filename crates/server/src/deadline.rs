//! The request deadline, as kube-apiserver's `WithRequestDeadline`
//! (`endpoints/filters/request_deadline.go`) and `WithTimeoutForNonLongRunningRequests`
//! (`server/filters/timeout.go`) set it:
//!
//! - a request that is not long-running has `--request-timeout` (60 s), or less when its
//!   `?timeout=` asks for less (a Go duration: `30s`, `1m30s`, `500ms`); `0`, a negative
//!   value or more than the maximum leave the maximum;
//! - a malformed `?timeout=` is a 400 `invalid timeout specified in the request URL - time:
//!   invalid duration "x"`;
//! - past the deadline the client gets upstream's 504 `Timeout: request did not complete
//!   within the allotted timeout`, and the handler goes on to its end in the background (as
//!   upstream's goroutine does): a write that had begun lands whole or not at all, never half,
//!   and the in-flight place it holds is given back only then;
//! - long-running requests (`BasicLongRunningRequestCheck(watch, proxy; attach, exec, proxy,
//!   log, portforward)`) have no deadline: a watch ends by its own `timeoutSeconds`.

use crate::respond::Resp;
use api_types::StatusError;
use request_info::RequestInfo;
use std::time::Duration;

/// A request's time being up, as its handler sees it (a request extension): once the
/// deadline passed and the client has its 504, reading the body fails, so a body that comes
/// later never becomes a write (upstream's `timeoutReader`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Expiry(std::sync::Arc<(std::sync::atomic::AtomicBool, tokio::sync::Notify)>);

impl Expiry {
    fn expire(&self) {
        self.0 .0.store(true, std::sync::atomic::Ordering::SeqCst);
        self.0 .1.notify_waiters();
    }

    /// Resolves once the deadline has passed (never, for a request without one).
    pub(crate) async fn expired(&self) {
        loop {
            let notified = self.0 .1.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.0 .0.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

/// Whether a request runs for as long as it needs (kube-apiserver's long-running check).
pub(crate) fn is_long_running(info: &RequestInfo) -> bool {
    info.is_resource_request
        && (matches!(info.verb.as_str(), "watch" | "proxy")
            || matches!(
                info.subresource.as_str(),
                "attach" | "exec" | "proxy" | "log" | "portforward"
            ))
}

/// How long a request may run: None for a long-running one; `max` unless its `?timeout=`
/// asks for less.
pub(crate) fn limit(
    info: &RequestInfo,
    query: &str,
    max: Duration,
) -> Result<Option<Duration>, StatusError> {
    if is_long_running(info) {
        return Ok(None);
    }
    // `URL.Query().Get`: the first value.
    let asked = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "timeout")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty());
    let Some(asked) = asked else {
        return Ok(Some(max));
    };
    let nanos = parse_go_duration(&asked).map_err(|e| {
        StatusError::bad_request(format!(
            "invalid timeout specified in the request URL - {e}"
        ))
    })?;
    let asked = u64::try_from(nanos)
        .ok()
        .filter(|n| *n > 0)
        .map(Duration::from_nanos);
    Ok(Some(asked.filter(|d| *d < max).unwrap_or(max)))
}

/// Runs `fut` until `limit`; past it answers 504, marks `expiry`, and leaves `fut` to finish on
/// its own task (`on_timeout` runs first, for the metrics). No limit: `fut` as it is.
pub(crate) async fn within<F>(
    limit: Option<Duration>,
    expiry: Expiry,
    fut: F,
    on_timeout: impl FnOnce(),
) -> Resp
where
    F: std::future::Future<Output = Resp> + Send + 'static,
{
    let Some(limit) = limit else {
        return fut.await;
    };
    let mut fut = Box::pin(fut);
    match tokio::time::timeout(limit, &mut fut).await {
        Ok(resp) => resp,
        Err(_) => {
            on_timeout();
            expiry.expire();
            // A panic here is the task's, caught by the runtime: the client already has its 504.
            tokio::spawn(async move {
                drop(fut.await);
            });
            crate::respond::status(&StatusError::timeout())
        }
    }
}

/// Go's `time.ParseDuration`, in nanoseconds, with its error texts (`time: invalid duration
/// "x"`, `time: missing unit in duration "1"`, `time: unknown unit "d" in duration "1d"`).
pub fn parse_go_duration(orig: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", go_quote(orig));
    let mut s = orig.as_bytes();
    let mut neg = false;
    if let Some((&c, rest)) = s.split_first() {
        if c == b'-' || c == b'+' {
            neg = c == b'-';
            s = rest;
        }
    }
    if s == b"0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    const LIMIT: u64 = 1 << 63;
    let mut total: u64 = 0;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // The integer part: [0-9]*
        let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
        let mut v: u64 = 0;
        for &c in &s[..digits] {
            if v > LIMIT / 10 {
                return Err(invalid());
            }
            v = v * 10 + u64::from(c - b'0');
            if v > LIMIT {
                return Err(invalid());
            }
        }
        let pre = digits > 0;
        s = &s[digits..];
        // The fraction: (\.[0-9]*)?, digits past what fits ignored.
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if s.first() == Some(&b'.') {
            s = &s[1..];
            let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
            let mut overflow = false;
            for &c in &s[..digits] {
                if overflow {
                    continue;
                }
                if f > (LIMIT - 1) / 10 {
                    overflow = true;
                    continue;
                }
                let y = f * 10 + u64::from(c - b'0');
                if y > LIMIT {
                    overflow = true;
                    continue;
                }
                f = y;
                scale *= 10.0;
            }
            post = digits > 0;
            s = &s[digits..];
        }
        if !pre && !post {
            return Err(invalid());
        }
        // The unit: everything up to the next number.
        let len = s
            .iter()
            .take_while(|c| **c != b'.' && !c.is_ascii_digit())
            .count();
        if len == 0 {
            return Err(format!("time: missing unit in duration {}", go_quote(orig)));
        }
        let unit_text = String::from_utf8_lossy(&s[..len]).into_owned();
        s = &s[len..];
        let unit: u64 = match unit_text.as_str() {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    go_quote(&unit_text),
                    go_quote(orig)
                ))
            }
        };
        if v > LIMIT / unit {
            return Err(invalid());
        }
        v *= unit;
        if f > 0 {
            // As Go: float arithmetic for the fraction, truncated.
            let frac = (f as f64 * (unit as f64 / scale)) as u64;
            v += frac;
            if v > LIMIT {
                return Err(invalid());
            }
        }
        total += v;
        if total > LIMIT {
            return Err(invalid());
        }
    }
    if neg {
        // -2^63 fits; anything beyond was refused above.
        return Ok(0i64.wrapping_sub_unsigned(total));
    }
    i64::try_from(total).map_err(|_| invalid())
}

/// Go's `strconv.Quote`, near enough for error texts: printable characters as they are.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's own `parseDurationTests` and `parseDurationErrorTests` (time_test.go), as data
    /// (the cases a request's `?timeout=` can carry: valid UTF-8).
    #[test]
    fn go_durations() {
        let ok: &[(&str, i64)] = &[
            ("0", 0),
            ("5s", 5_000_000_000),
            ("30s", 30_000_000_000),
            ("1478s", 1_478_000_000_000),
            ("-5s", -5_000_000_000),
            ("+5s", 5_000_000_000),
            ("-0", 0),
            ("+0", 0),
            ("5.0s", 5_000_000_000),
            ("5.6s", 5_600_000_000),
            ("5.s", 5_000_000_000),
            (".5s", 500_000_000),
            ("1.0s", 1_000_000_000),
            ("1.00s", 1_000_000_000),
            ("1.004s", 1_004_000_000),
            ("1.0040s", 1_004_000_000),
            ("100.00100s", 100_001_000_000),
            ("10ns", 10),
            ("11us", 11_000),
            ("12\u{b5}s", 12_000),
            ("12\u{3bc}s", 12_000),
            ("13ms", 13_000_000),
            ("14s", 14_000_000_000),
            ("15m", 900_000_000_000),
            ("16h", 57_600_000_000_000),
            ("3h30m", 12_600_000_000_000),
            ("10.5s4m", 250_500_000_000),
            ("-2m3.4s", -123_400_000_000),
            ("1h2m3s4ms5us6ns", 3_723_004_005_006),
            ("39h9m14.425s", 140_954_425_000_000),
            ("52763797000ns", 52_763_797_000),
            ("0.3333333333333333333h", 1_200_000_000_000),
            ("9007199254740993ns", 9_007_199_254_740_993),
            ("9223372036854775807ns", i64::MAX),
            ("9223372036854775.807us", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
            ("0.100000000000000000000h", 360_000_000_000),
            ("0.830103483285477580700h", 2_988_372_539_827),
        ];
        for (s, want) in ok {
            assert_eq!(parse_go_duration(s), Ok(*want), "{s}");
        }
        let bad: &[(&str, &str)] = &[
            ("", r#"time: invalid duration """#),
            ("3", r#"time: missing unit in duration "3""#),
            ("-", r#"time: invalid duration "-""#),
            ("s", r#"time: invalid duration "s""#),
            (".", r#"time: invalid duration ".""#),
            ("-.", r#"time: invalid duration "-.""#),
            (".s", r#"time: invalid duration ".s""#),
            ("+.s", r#"time: invalid duration "+.s""#),
            ("1d", r#"time: unknown unit "d" in duration "1d""#),
            ("\x01", r#"time: invalid duration "\x01""#),
            (
                "9223372036854775808ns",
                r#"time: invalid duration "9223372036854775808ns""#,
            ),
            (
                "9223372036854775.808us",
                r#"time: invalid duration "9223372036854775.808us""#,
            ),
            (
                "-9223372036854775809ns",
                r#"time: invalid duration "-9223372036854775809ns""#,
            ),
        ];
        for (s, want) in bad {
            assert_eq!(parse_go_duration(s), Err((*want).to_string()), "{s:?}");
        }
    }

    fn info(path: &str, query: &str) -> RequestInfo {
        request_info::parse("GET", path, query).expect("a request")
    }

    #[test]
    fn the_limit_is_the_maximum_or_less_and_never_for_a_watch() {
        let max = Duration::from_secs(60);
        let get = info("/api/v1/namespaces", "");
        let check = |q: &str| limit(&get, q, max).map_err(|e| e.message.clone());
        assert_eq!(check(""), Ok(Some(max)));
        assert_eq!(check("timeout=5s"), Ok(Some(Duration::from_secs(5))));
        assert_eq!(
            check("timeout=1m30s"),
            Ok(Some(max)),
            "more than the maximum"
        );
        assert_eq!(check("timeout=0"), Ok(Some(max)));
        assert_eq!(check("timeout=-1s"), Ok(Some(max)));
        assert_eq!(
            check("timeout=2s&timeout=9s"),
            Ok(Some(Duration::from_secs(2)))
        );
        assert_eq!(
            check("timeout=soon"),
            Err(
                r#"invalid timeout specified in the request URL - time: invalid duration "soon""#
                    .into()
            )
        );
        let watch = info("/api/v1/namespaces", "watch=true&timeout=x");
        assert_eq!(limit(&watch, "watch=true&timeout=x", max).ok(), Some(None));
        let exec = info("/api/v1/namespaces/d/pods/p/exec", "");
        assert_eq!(limit(&exec, "", max).ok(), Some(None));
    }
}
