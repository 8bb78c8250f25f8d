//! The values apimachinery decodes with decoders of their own, judged as those decoders judge
//! them and refused in their words, which kube-apiserver passes on (`Pod in version "v1"
//! cannot be handled as a Pod: <the decoder's words>`):
//!
//! - `resource.Quantity` (`ParseQuantity`, `apimachinery/pkg/api/resource/quantity.go`);
//! - `metav1.Time` and `metav1.MicroTime` (`time.Parse` with `RFC3339` and `RFC3339Micro`:
//!   Go's `time.ParseError` texts, `src/time/format.go`);
//! - `[]byte` (Go's `encoding/base64` standard encoding: `illegal base64 data at input byte N`).
//!
//! Sans-IO: strings in, `Ok` or the decoder's words out.

/// `ErrFormatWrong`.
pub const QUANTITY_FORMAT: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
/// `ErrSuffix`.
pub const QUANTITY_SUFFIX: &str = "unable to parse quantity's suffix";

/// `ParseQuantity(str)`: whether `s` is a quantity, else why not.
pub fn quantity(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err(QUANTITY_FORMAT);
    }
    if s == "0" {
        return Ok(());
    }
    let (value, suffix) = quantity_parts(s)?;
    // `quantitySuffixer.interpret`: a binary or decimal SI suffix, or an exponent.
    let known = matches!(
        suffix,
        "" | "Ki"
            | "Mi"
            | "Gi"
            | "Ti"
            | "Pi"
            | "Ei"
            | "n"
            | "u"
            | "m"
            | "k"
            | "M"
            | "G"
            | "T"
            | "P"
            | "E"
    );
    let exponent =
        suffix.len() > 1 && matches!(suffix.as_bytes()[0], b'e' | b'E') && go_atoi(&suffix[1..]);
    if !known && !exponent {
        return Err(QUANTITY_SUFFIX);
    }
    // What `parseQuantityString` accepts, `inf.Dec` reads: `ErrNumeric` is not reached by a
    // string of at most an int64's digits, and longer ones are decimals it reads too.
    let _ = value;
    Ok(())
}

/// `strconv.Atoi` accepts it: an optional sign and at least one digit (the exponent of a
/// quantity; its range does not matter here).
fn go_atoi(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `parseQuantityString`: the number (with its sign) and the suffix, or `ErrFormatWrong`.
fn quantity_parts(s: &str) -> Result<(&str, &str), &'static str> {
    let b = s.as_bytes();
    let end = b.len();
    let mut pos = 0;
    if matches!(b.first(), Some(b'-' | b'+')) {
        pos += 1;
    }
    // Leading zeros; all zeros is zero.
    while pos < end && b[pos] == b'0' {
        pos += 1;
    }
    if pos >= end {
        return Ok(("0", ""));
    }
    // The numerator.
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos >= end {
        return Ok((s, ""));
    }
    // The denominator.
    if b[pos] == b'.' {
        pos += 1;
        while pos < end && b[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos >= end {
            return Ok((s, ""));
        }
    }
    let value = &s[..pos];
    let suffix_start = pos;
    while pos < end && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos >= end {
        return Ok((value, &s[suffix_start..]));
    }
    if matches!(b[pos], b'-' | b'+') {
        pos += 1;
    }
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos >= end {
        return Ok((value, &s[suffix_start..]));
    }
    Err(QUANTITY_FORMAT)
}

/// `base64.StdEncoding.DecodeString(s)`: whether it decodes, else Go's
/// `illegal base64 data at input byte N` (`CorruptInputError`, where `decodeQuantum` stops).
pub fn base64_std(s: &str) -> Result<(), String> {
    let src = s.as_bytes();
    let valid = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
    let corrupt = |at: usize| Err(format!("illegal base64 data at input byte {at}"));
    let mut si = 0;
    loop {
        // One quantum of four symbols; newlines are skipped.
        let mut j = 0;
        while j < 4 {
            if si == src.len() {
                return match j {
                    0 => Ok(()),
                    _ => corrupt(si - j),
                };
            }
            let c = src[si];
            si += 1;
            if valid(c) {
                j += 1;
                continue;
            }
            if c == b'\n' || c == b'\r' {
                continue;
            }
            if c != b'=' || j < 2 {
                return corrupt(si - 1);
            }
            // Padding: after two symbols `==`, after three `=`; then only newlines.
            if j == 2 {
                while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
                    si += 1;
                }
                if si == src.len() {
                    return corrupt(src.len());
                }
                if src[si] != b'=' {
                    return corrupt(si - 1);
                }
                si += 1;
            }
            while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
                si += 1;
            }
            return if si < src.len() { corrupt(si) } else { Ok(()) };
        }
    }
}

/// `time.RFC3339`, `metav1.Time`'s layout.
pub const RFC3339: &str = "2006-01-02T15:04:05Z07:00";
/// `metav1.RFC3339Micro`, `metav1.MicroTime`'s layout.
pub const RFC3339_MICRO: &str = "2006-01-02T15:04:05.000000Z07:00";

/// The time package's `quote`: printable ASCII as it is (`"` and `\\` escaped), every other
/// byte as `\\xNN`.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if c.is_ascii() && c >= ' ' {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        } else {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
    }
    out.push('"');
    out
}

/// One element of the two layouts (`nextStdChunk`'s `std` values that they use).
#[derive(Clone, Copy, PartialEq)]
enum Elem {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    /// `.000000`: exactly this many fractional digits.
    Frac(usize),
    Zone,
}

/// The layout's chunks: the literal before each element, the element, and its text.
fn chunks(layout: &str) -> Vec<(&'static str, Elem, &'static str)> {
    let mut c = vec![
        ("", Elem::Year, "2006"),
        ("-", Elem::Month, "01"),
        ("-", Elem::Day, "02"),
        ("T", Elem::Hour, "15"),
        (":", Elem::Minute, "04"),
        (":", Elem::Second, "05"),
    ];
    if layout == RFC3339_MICRO {
        c.push(("", Elem::Frac(6), ".000000"));
    }
    c.push(("", Elem::Zone, "Z07:00"));
    c
}

/// `time.Parse(layout, s)` for [`RFC3339`] and [`RFC3339_MICRO`]: whether it parses, else
/// Go's `ParseError` text (`parsing time "x" as "2006-...": cannot parse "x" as "2006"`, or
/// `parsing time "x": month out of range`).
pub fn time(layout: &str, s: &str) -> Result<(), String> {
    let quote = go_quote;
    let cannot = |value: &str, elem: &str| {
        Err(format!(
            "parsing time {} as {}: cannot parse {} as {}",
            quote(s),
            quote(layout),
            quote(value),
            quote(elem)
        ))
    };
    let out_of_range = |what: &str| Err(format!("parsing time {}: {what} out of range", quote(s)));
    let digit = |v: &str, i: usize| v.as_bytes().get(i).is_some_and(u8::is_ascii_digit);
    // `getnum`: one or two digits (`fixed`: two).
    let getnum = |v: &str, fixed: bool| -> Option<(u32, usize)> {
        if !digit(v, 0) {
            return None;
        }
        let b = v.as_bytes();
        if !digit(v, 1) {
            return (!fixed).then(|| (u32::from(b[0] - b'0'), 1));
        }
        Some((u32::from(b[0] - b'0') * 10 + u32::from(b[1] - b'0'), 2))
    };
    let mut value = s;
    let (mut year, mut month, mut day) = (0u32, 0u32, 0u32);
    let chunks = chunks(layout);
    for (i, &(prefix, elem, text)) in chunks.iter().enumerate() {
        // `skip`: the literal must be there.
        if !value.starts_with(prefix) {
            let at = value
                .bytes()
                .zip(prefix.bytes())
                .take_while(|(a, b)| a == b)
                .count();
            return cannot(&value[at..], &prefix[at..]);
        }
        value = &value[prefix.len()..];
        let hold = value;
        let parsed: Option<usize> = match elem {
            Elem::Year => (value.len() >= 4 && value.bytes().take(4).all(|b| b.is_ascii_digit()))
                .then(|| {
                    year = value[..4].parse().unwrap_or(0);
                    4
                }),
            Elem::Month | Elem::Day | Elem::Minute | Elem::Second | Elem::Hour => {
                match getnum(value, elem != Elem::Hour) {
                    None => None,
                    Some((n, used)) => {
                        let range = match elem {
                            Elem::Month if !(1..=12).contains(&n) => Some("month"),
                            Elem::Hour if n >= 24 => Some("hour"),
                            Elem::Minute if n >= 60 => Some("minute"),
                            Elem::Second if n >= 60 => Some("second"),
                            _ => None,
                        };
                        if let Some(what) = range {
                            return out_of_range(what);
                        }
                        match elem {
                            Elem::Month => month = n,
                            Elem::Day => day = n,
                            _ => {}
                        }
                        // A fraction after the seconds when the layout has none: taken.
                        let next_is_frac = matches!(chunks.get(i + 1), Some((_, Elem::Frac(_), _)));
                        let rest = &value[used..];
                        if elem == Elem::Second
                            && !next_is_frac
                            && matches!(rest.as_bytes().first(), Some(b'.' | b','))
                            && digit(rest, 1)
                        {
                            let n = 1 + rest[1..].bytes().take_while(u8::is_ascii_digit).count();
                            Some(used + n)
                        } else {
                            Some(used)
                        }
                    }
                }
            }
            // Judged byte by byte: a value is any text, and a slice must not split a character.
            Elem::Frac(n) => {
                let b = value.as_bytes();
                (b.len() > n
                    && matches!(b[0], b'.' | b',')
                    && b[1..=n].iter().all(u8::is_ascii_digit))
                .then_some(n + 1)
            }
            Elem::Zone => {
                let b = value.as_bytes();
                if b.first() == Some(&b'Z') {
                    Some(1)
                } else {
                    let ok = b.len() >= 6
                        && matches!(b[0], b'+' | b'-')
                        && b[1..3].iter().all(u8::is_ascii_digit)
                        && b[3] == b':'
                        && b[4..6].iter().all(u8::is_ascii_digit);
                    ok.then_some(6)
                }
            }
        };
        match parsed {
            Some(used) => value = &value[used..],
            None => return cannot(hold, text),
        }
    }
    if !value.is_empty() {
        return Err(format!(
            "parsing time {}: extra text: {}",
            quote(s),
            quote(value)
        ));
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day < 1 || day > days {
        return out_of_range("day");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A multi-byte character anywhere (where a slice of the text could fall) is refused by
    /// each decoder, as Go's refuse it: an answer, never a panic.
    #[test]
    fn multi_byte_text_is_refused_wherever_it_falls() {
        for text in [
            "1\u{e9}",
            "1.\u{e9}",
            "1K\u{e9}",
            "1e\u{e9}",
            "+\u{e9}",
            "\u{1F600}5",
            "YQ\u{e9}=",
            "2026-12-06T18:00:00.1\u{e9}Z",
            "2026-12-06T1\u{e9}:00:00Z",
            "2026-12-06T18:00:00+0\u{e9}:00",
        ] {
            let first = text.find(|c: char| !c.is_ascii()).unwrap();
            for end in (first + 1..=text.len()).filter(|&i| text.is_char_boundary(i)) {
                let t = &text[..end];
                assert!(quantity(t).is_err(), "{t}");
                assert!(base64_std(t).is_err(), "{t}");
                assert!(time(RFC3339, t).is_err(), "{t}");
                assert!(time(RFC3339_MICRO, t).is_err(), "{t}");
            }
        }
    }

    #[test]
    fn quantities_as_parse_quantity_judges_them() {
        for ok in [
            "1", "0", "100m", "1.5", "-1", "+2Gi", "1e3", "1E-3", "0.1", ".5", "5.", "000", "1Ki",
            "12e+6", "1n", "1u", "1k", "1M", "1T", "1P", "1E", "+0", "-.5", ".", "+", "-m",
        ] {
            assert_eq!(quantity(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("", QUANTITY_FORMAT),
            ("lots", QUANTITY_FORMAT),
            ("1 Gi", QUANTITY_FORMAT),
            ("1Gix", QUANTITY_FORMAT),
            ("1.2.3", QUANTITY_FORMAT),
            ("1Ki1", QUANTITY_SUFFIX),
            ("1KB", QUANTITY_FORMAT),
            ("1mi", QUANTITY_SUFFIX),
            ("1e", QUANTITY_SUFFIX),
        ] {
            assert_eq!(quantity(bad), Err(why), "{bad:?}");
        }
    }

    #[test]
    fn base64_as_go_decodes_it() {
        for ok in ["", "YQ==", "YWI=", "YWJj", "YW\nJj", "YWJjZA==\n"] {
            assert_eq!(base64_std(ok), Ok(()), "{ok:?}");
        }
        for (bad, at) in [
            ("%%%", 0),
            ("abc", 0),
            ("abcd%", 4),
            ("a", 0),
            ("YQ=", 3),
            ("YQ=x", 2),
            ("Y===", 1),
            ("YWI=x", 4),
            ("YWJjZA==YQ==", 8),
        ] {
            assert_eq!(
                base64_std(bad),
                Err(format!("illegal base64 data at input byte {at}")),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn times_as_time_parse_judges_them() {
        for ok in [
            "2026-12-06T18:00:00Z",
            "2026-12-06T18:00:00+01:00",
            "2026-12-06T18:00:00.123Z",
            "2024-02-29T00:00:00Z",
            "2026-12-06T8:00:00Z",
        ] {
            assert_eq!(time(RFC3339, ok), Ok(()), "{ok}");
        }
        for (bad, want) in [
            (
                "bad",
                r#"parsing time "bad" as "2006-01-02T15:04:05Z07:00": cannot parse "bad" as "2006""#,
            ),
            (
                "",
                r#"parsing time "" as "2006-01-02T15:04:05Z07:00": cannot parse "" as "2006""#,
            ),
            (
                "2026-12-06",
                r#"parsing time "2026-12-06" as "2006-01-02T15:04:05Z07:00": cannot parse "" as "T""#,
            ),
            (
                "2026-12-06 18:00:00Z",
                r#"parsing time "2026-12-06 18:00:00Z" as "2006-01-02T15:04:05Z07:00": cannot parse " 18:00:00Z" as "T""#,
            ),
            (
                "2026-13-06T18:00:00Z",
                r#"parsing time "2026-13-06T18:00:00Z": month out of range"#,
            ),
            (
                "2026-02-30T18:00:00Z",
                r#"parsing time "2026-02-30T18:00:00Z": day out of range"#,
            ),
            (
                "2026-12-06T25:00:00Z",
                r#"parsing time "2026-12-06T25:00:00Z": hour out of range"#,
            ),
            (
                "2026-12-06T18:00:00",
                r#"parsing time "2026-12-06T18:00:00" as "2006-01-02T15:04:05Z07:00": cannot parse "" as "Z07:00""#,
            ),
            (
                "2026-12-06T18:00:00Zjunk",
                r#"parsing time "2026-12-06T18:00:00Zjunk": extra text: "junk""#,
            ),
            (
                "2026-1-06T18:00:00Z",
                r#"parsing time "2026-1-06T18:00:00Z" as "2006-01-02T15:04:05Z07:00": cannot parse "1-06T18:00:00Z" as "01""#,
            ),
        ] {
            assert_eq!(time(RFC3339, bad), Err(want.to_string()), "{bad:?}");
        }
        assert_eq!(
            time(RFC3339, "x\"\n\u{e9}"),
            Err(r#"parsing time "x\"\x0a\xc3\xa9" as "2006-01-02T15:04:05Z07:00": cannot parse "x\"\x0a\xc3\xa9" as "2006""#.into())
        );
        assert_eq!(time(RFC3339_MICRO, "2026-12-06T18:00:00.123456Z"), Ok(()));
        // Any text, multi-byte characters wherever a slice could fall: refused, never a panic.
        for text in [
            "2026-12-06T18:00:00+00:0\u{e9}",
            "2026-12-06T18:00:00.12345\u{e9}Z",
            "\u{e9}",
            "2026-\u{e9}",
            "2026-12-06T18:00:00\u{e9}",
            "2026-12-06T18:00:0\u{e9}",
        ] {
            assert!(time(RFC3339, text).is_err(), "{text}");
            assert!(time(RFC3339_MICRO, text).is_err(), "{text}");
        }
        assert_eq!(
            time(RFC3339_MICRO, "2026-12-06T18:00:00Z"),
            Err(r#"parsing time "2026-12-06T18:00:00Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "Z" as ".000000""#.into())
        );
    }
}
