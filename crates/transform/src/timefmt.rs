//! Time formats: the named ones (`RFC3339`, `RFC3339Nano`, `Unix`, `UnixMilli`) and Go reference
//! layouts (`2006-01-02 15:04:05`) translated once into a formatter.

use chrono::{DateTime, SecondsFormat, TimeZone};
use serde_json::Value;

/// A compiled output format for times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeFormat {
    /// `2006-01-02T15:04:05Z07:00`.
    Rfc3339,
    /// `2006-01-02T15:04:05.999999999Z07:00` (trailing zeros of the fraction trimmed).
    Rfc3339Nano,
    /// Seconds since the epoch, as text.
    Unix,
    /// Milliseconds since the epoch.
    UnixMilli,
    /// A chrono format string translated from a Go layout.
    Layout(String),
}

impl TimeFormat {
    /// Compiles a named format or a Go layout.
    pub fn parse(text: &str) -> Result<TimeFormat, String> {
        Ok(match text {
            "RFC3339" | "" => TimeFormat::Rfc3339,
            "RFC3339Nano" => TimeFormat::Rfc3339Nano,
            "Unix" => TimeFormat::Unix,
            "UnixMilli" => TimeFormat::UnixMilli,
            "2006-01-02T15:04:05Z07:00" => TimeFormat::Rfc3339,
            "2006-01-02T15:04:05.999999999Z07:00" => TimeFormat::Rfc3339Nano,
            layout => TimeFormat::Layout(translate_go_layout(layout)?),
        })
    }

    /// Formats `time`; epoch formats give text for `Unix` and a number for `UnixMilli` only
    /// when `numeric_millis` asks for it.
    pub fn format<Tz: TimeZone>(&self, time: &DateTime<Tz>, numeric_millis: bool) -> Value
    where
        Tz::Offset: std::fmt::Display,
    {
        match self {
            TimeFormat::Rfc3339 => Value::String(time.to_rfc3339_opts(SecondsFormat::Secs, true)),
            TimeFormat::Rfc3339Nano => Value::String(rfc3339_nano(time)),
            TimeFormat::Unix => Value::String(time.timestamp().to_string()),
            TimeFormat::UnixMilli if numeric_millis => Value::from(time.timestamp_millis()),
            TimeFormat::UnixMilli => Value::String(time.timestamp_millis().to_string()),
            TimeFormat::Layout(layout) => Value::String(time.format(layout).to_string()),
        }
    }
}

/// RFC 3339 with the fraction of Go's RFC3339Nano: as many digits as needed, none when zero.
fn rfc3339_nano<Tz: TimeZone>(time: &DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let text = time.to_rfc3339_opts(SecondsFormat::Nanos, true);
    // Trim trailing zeros of the 9-digit fraction (and the dot when nothing is left).
    let Some(dot) = text.find('.') else {
        return text;
    };
    let end = dot + 10;
    let fraction = text[dot + 1..end].trim_end_matches('0');
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..dot]);
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(fraction);
    }
    out.push_str(&text[end..]);
    out
}

/// Translates a Go reference layout (Mon Jan 2 15:04:05 MST 2006) into a chrono format.
pub fn translate_go_layout(layout: &str) -> Result<String, String> {
    // Longest tokens first, so `2006` wins over `2` and `January` over `Jan`.
    const TOKENS: &[(&str, &str)] = &[
        ("January", "%B"),
        ("Monday", "%A"),
        ("Z07:00", "%:z"),
        ("-07:00", "%:z"),
        ("Z0700", "%z"),
        ("-0700", "%z"),
        (".000000000", "%.9f"),
        (".999999999", "%.f"),
        (".000000", "%.6f"),
        (".999999", "%.f"),
        (".000", "%.3f"),
        (".999", "%.f"),
        ("2006", "%Y"),
        ("Jan", "%b"),
        ("Mon", "%a"),
        ("MST", "%Z"),
        ("-07", "%#z"),
        ("01", "%m"),
        ("02", "%d"),
        ("_2", "%e"),
        ("06", "%y"),
        ("15", "%H"),
        ("03", "%I"),
        ("04", "%M"),
        ("05", "%S"),
        ("PM", "%p"),
        ("pm", "%P"),
        ("1", "%-m"),
        ("2", "%-d"),
        ("3", "%-I"),
        ("4", "%-M"),
        ("5", "%-S"),
    ];
    let mut out = String::new();
    let mut rest = layout;
    let mut matched_any = false;
    'outer: while !rest.is_empty() {
        for (go, chrono) in TOKENS {
            if let Some(after) = rest.strip_prefix(go) {
                out.push_str(chrono);
                rest = after;
                matched_any = true;
                continue 'outer;
            }
        }
        let c = rest.chars().next().expect("not empty");
        if c == '%' {
            out.push_str("%%");
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    if !matched_any {
        return Err(format!(
            "{layout:?} is neither RFC3339, RFC3339Nano, Unix, UnixMilli nor a Go layout such as \"2006-01-02 15:04:05\""
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, Utc};

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-01-15T10:30:00.120Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn named_formats() {
        assert_eq!(
            TimeFormat::parse("RFC3339").unwrap().format(&at(), false),
            "2024-01-15T10:30:00Z"
        );
        assert_eq!(
            TimeFormat::parse("RFC3339Nano")
                .unwrap()
                .format(&at(), false),
            "2024-01-15T10:30:00.12Z"
        );
        assert_eq!(
            TimeFormat::parse("Unix").unwrap().format(&at(), false),
            "1705314600"
        );
        assert_eq!(
            TimeFormat::parse("UnixMilli").unwrap().format(&at(), true),
            1705314600120i64
        );
        let moscow = at().with_timezone(&FixedOffset::east_opt(3 * 3600).unwrap());
        assert_eq!(
            TimeFormat::Rfc3339.format(&moscow, false),
            "2024-01-15T13:30:00+03:00"
        );
        let whole = DateTime::parse_from_rfc3339("2024-01-15T10:30:00Z").unwrap();
        assert_eq!(
            TimeFormat::Rfc3339Nano.format(&whole, false),
            "2024-01-15T10:30:00Z"
        );
    }

    #[test]
    fn go_layouts() {
        let format = |layout: &str| TimeFormat::parse(layout).unwrap().format(&at(), false);
        assert_eq!(format("2006-01-02 15:04:05"), "2024-01-15 10:30:00");
        assert_eq!(format("02/01/06 3:04PM"), "15/01/24 10:30AM");
        assert_eq!(format("Jan _2 15:04:05.000"), "Jan 15 10:30:00.120");
        assert_eq!(
            format("2006-01-02T15:04:05-07:00"),
            "2024-01-15T10:30:00+00:00"
        );
        assert!(TimeFormat::parse("yyyy-MM-dd").is_err());
    }
}
