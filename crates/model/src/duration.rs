//! Go-style duration strings (`30s`, `1m30s`, `500ms`, `1.5h`), as the original's fields use them.

use std::time::Duration;

/// Parses a Go duration string. A bare `0` is accepted; negative durations are rejected.
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err("expected a duration such as \"30s\", \"1m30s\" or \"500ms\"".into());
    }
    if text.starts_with('-') {
        return Err(format!("duration {text:?} must not be negative"));
    }
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return Err(format!(
                "duration {text:?}: expected a number before {rest:?} (units: ns, us, ms, s, m, h)"
            ));
        }
        let number: f64 = rest[..number_len].parse().map_err(|_| {
            format!(
                "duration {text:?}: {:?} is not a number",
                &rest[..number_len]
            )
        })?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => {
                return Err(format!(
                    "duration {text:?} needs a unit (ns, us, ms, s, m, h)"
                ));
            }
            unit => {
                return Err(format!(
                    "duration {text:?}: unknown unit {unit:?} (expected ns, us, ms, s, m or h)"
                ));
            }
        };
        rest = &rest[unit_len..];
        total += number * seconds_per_unit;
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_go_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_go_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_go_duration("500ms").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(
            parse_go_duration("1.5h").unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
    }

    #[test]
    fn rejects_bad_durations() {
        for bad in ["", "30", "-1s", "1x", "s", "1.2.3s"] {
            assert!(parse_go_duration(bad).is_err(), "{bad} should be rejected");
        }
    }
}
