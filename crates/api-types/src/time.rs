//! Timestamps as Kubernetes writes them (RFC 3339, second precision, UTC) and the
//! `HumanDuration` used by table printers.

use jiff::Timestamp;

/// `metav1.Time` text: RFC 3339 in UTC with second precision, e.g. `2026-11-29T01:02:03Z`.
pub fn format_rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `metav1.MicroTime` text, as Leases and audit events carry it: RFC 3339 in UTC with
/// microseconds, e.g. `2026-11-29T01:02:03.456789Z`.
pub fn format_micro_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Parses RFC 3339 text; `None` when it is not a timestamp.
pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
    s.parse().ok()
}

/// `k8s.io/apimachinery/pkg/util/duration.HumanDuration`, which kube-apiserver's table printers
/// use for AGE columns. `seconds` may be negative (clock skew).
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    } else if seconds < 0 {
        return "0s".into();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_duration_matches_upstream_table() {
        // Cases from apimachinery's duration_test.go.
        let check = |secs: i64, want: &str| assert_eq!(human_duration(secs), want, "{secs}s");
        check(-2, "<invalid>");
        check(-1, "0s");
        check(1, "1s");
        check(70, "70s");
        check(190, "3m10s");
        check(600, "10m");
        check(3 * 3600 + 60, "3h1m");
        check(8 * 3600, "8h");
        check(50 * 3600, "2d2h");
        check(9 * 24 * 3600, "9d");
        check(3 * 365 * 24 * 3600 + 24 * 3600, "3y1d");
        check(9 * 365 * 24 * 3600, "9y");
    }

    #[test]
    fn rfc3339_round_trips_at_second_precision() {
        let t: Timestamp = "2026-11-29T01:02:03.999Z".parse().unwrap();
        assert_eq!(format_rfc3339(t), "2026-11-29T01:02:03Z");
        assert!(parse_rfc3339("yesterday").is_none());
    }
}
