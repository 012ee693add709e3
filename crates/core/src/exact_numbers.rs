//! Whether every number of JSON text survives parsing into a [`serde_json::Value`].
//!
//! A `Value` holds a number as a 64-bit integer or a 64-bit float. An integer beyond 64 bits,
//! a decimal with more significant digits than a float keeps, or an exponent that underflows
//! would be rounded without a word (`18446744073709551616` → `1.8446744073709552e19`,
//! `1e-400` → `0`). [`check`] finds the first such number so that the caller can refuse the
//! message instead. A number is exact when the float it parses to, written in its shortest
//! form, is the same decimal number (`1E2` and `100.0` are; `0.1` is, as written).
//!
//! Layout: [`check`] walks the text (skipping strings) and hands each number to `is_exact`,
//! which decides small numbers by counting digits and the rest by comparing decimal forms.

use std::fmt;

/// Significant digits every decimal keeps through a 64-bit float (`f64::DIGITS`).
const ALWAYS_EXACT_DIGITS: usize = f64::DIGITS as usize;

/// A number of JSON text that a JSON value cannot hold exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct InexactNumber {
    /// The number as written (its first 64 characters).
    pub literal: String,
    /// What it would have become.
    pub rounded: f64,
}

impl fmt::Display for InexactNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the number {} cannot be held exactly (JSON values hold 64-bit integers and floats); \
             it would become {:e}",
            self.literal, self.rounded
        )
    }
}

impl std::error::Error for InexactNumber {}

/// Checks every number of `text`, which must be valid JSON; the first inexact one is the error.
pub fn check(text: &[u8]) -> Result<(), InexactNumber> {
    let mut at = 0;
    while at < text.len() {
        match text[at] {
            b'"' => at = after_string(text, at + 1),
            b'-' | b'0'..=b'9' => {
                let start = at;
                let shape = NumberShape::scan(text, &mut at);
                if shape.is_certainly_exact() {
                    continue;
                }
                // Valid JSON: the number is ASCII.
                let literal = std::str::from_utf8(&text[start..at]).unwrap_or_default();
                if let Some(rounded) = inexact(literal) {
                    return Err(InexactNumber {
                        literal: literal.chars().take(64).collect(),
                        rounded,
                    });
                }
            }
            _ => at += 1,
        }
    }
    Ok(())
}

/// What one pass over a number literal learns: enough to clear the common ones at once.
struct NumberShape {
    /// Characters in the literal.
    length: usize,
    /// Digits from the first non-zero one to the last non-zero one.
    significant: usize,
    point: bool,
    exponent: bool,
}

impl NumberShape {
    /// Scans the number at `*at`, leaving `*at` after it.
    fn scan(text: &[u8], at: &mut usize) -> NumberShape {
        let start = *at;
        let (mut digits, mut first_nonzero, mut last_nonzero) = (0usize, None, 0usize);
        let (mut point, mut exponent) = (false, false);
        while let Some(&byte) = text.get(*at) {
            match byte {
                b'0'..=b'9' if !exponent => {
                    digits += 1;
                    if byte != b'0' {
                        first_nonzero.get_or_insert(digits);
                        last_nonzero = digits;
                    }
                }
                b'0'..=b'9' | b'+' | b'-' => {}
                b'.' => point = true,
                b'e' | b'E' => exponent = true,
                _ => break,
            }
            *at += 1;
        }
        let significant = first_nonzero.map_or(0, |first| last_nonzero - first + 1);
        NumberShape {
            length: *at - start,
            significant,
            point,
            exponent,
        }
    }

    /// An integer of up to 18 digits (always an i64), or a decimal without exponent, shorter
    /// than 300 characters, with at most [`ALWAYS_EXACT_DIGITS`] significant digits (every
    /// such decimal comes back from the nearest float unchanged).
    fn is_certainly_exact(&self) -> bool {
        !self.exponent
            && if self.point {
                self.length < 300 && self.significant <= ALWAYS_EXACT_DIGITS
            } else {
                self.length <= 18
            }
    }
}

/// The index after the string whose content starts at `at` (plain content skipped eight bytes
/// at a time, as the quick check does).
fn after_string(text: &[u8], mut at: usize) -> usize {
    loop {
        at = crate::json_text::skip_plain(text, at);
        match text.get(at) {
            Some(b'"') => return at + 1,
            Some(b'\\') => at += 2,
            Some(_) => at += 1,
            None => return text.len(),
        }
    }
}

/// The float a number literal rounds to, when it is not exactly that float.
fn inexact(literal: &str) -> Option<f64> {
    let plain_integer = !literal.contains(['.', 'e', 'E']);
    if plain_integer && (literal.parse::<i64>().is_ok() || literal.parse::<u64>().is_ok()) {
        return None; // held as an integer
    }
    let rounded: f64 = literal.parse().ok()?;
    if !rounded.is_finite() {
        return Some(rounded);
    }
    (Decimal::of(&format!("{rounded:e}")) != Decimal::of(literal)).then_some(rounded)
}

/// A decimal number as significant digits and the position of the point: the value is
/// `0.DIGITS × 10^point` (zero has no digits).
#[derive(Debug, PartialEq)]
struct Decimal {
    negative: bool,
    digits: Vec<u8>,
    point: i64,
}

impl Decimal {
    /// The decimal a JSON (or Rust `{:e}`) number literal writes.
    fn of(literal: &str) -> Decimal {
        let (negative, unsigned) = match literal.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, literal),
        };
        let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
            Some(at) => (&unsigned[..at], parse_exponent(&unsigned[at + 1..])),
            None => (unsigned, 0),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let mut point = exponent.saturating_add(whole.len() as i64);
        let mut digits: Vec<u8> = whole.bytes().chain(fraction.bytes()).collect();
        let leading = digits.iter().take_while(|&&d| d == b'0').count();
        digits.drain(..leading);
        point = point.saturating_sub(leading as i64);
        while digits.last() == Some(&b'0') {
            digits.pop();
        }
        if digits.is_empty() {
            return Decimal {
                negative: false,
                digits,
                point: 0,
            };
        }
        Decimal {
            negative,
            digits,
            point,
        }
    }
}

/// An exponent's value, saturated far beyond any float's range.
fn parse_exponent(text: &str) -> i64 {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = digits.bytes().fold(0i64, |value, digit| {
        value
            .saturating_mul(10)
            .saturating_add(i64::from(digit - b'0'))
            .min(1 << 40)
    });
    if negative { -magnitude } else { magnitude }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rounded(text: &str) -> Option<String> {
        check(text.as_bytes()).err().map(|e| e.literal)
    }

    #[test]
    fn numbers_a_value_holds_are_exact() {
        for text in [
            "0",
            "-0",
            "1",
            "-1",
            "0.1",
            "1E2",
            "100.0",
            "1.5e3",
            "-12.34",
            "9223372036854775807",
            "-9223372036854775808",
            "18446744073709551615",
            "100000000000000000000",
            "1e300",
            "0.30000000000000004",
            "5e-324",
            "1.7976931348623157e308",
            "0.000",
            "1e-0",
            "123456789012345.6",
            "[1, 2.5, {\"a\": 3e2}]",
        ] {
            assert_eq!(rounded(text), None, "{text}");
        }
    }

    #[test]
    fn numbers_a_value_would_round_are_found() {
        for (text, literal) in [
            ("18446744073709551616", "18446744073709551616"),
            ("1180591620717411303425", "1180591620717411303425"),
            ("-9223372036854775809", "-9223372036854775809"),
            ("1e-400", "1e-400"),
            ("0.1234567890123456789", "0.1234567890123456789"),
            ("{\"a\": \"1e-400\", \"b\": [1, 2e-400]}", "2e-400"),
        ] {
            assert_eq!(rounded(text).as_deref(), Some(literal), "{text}");
        }
    }

    #[test]
    fn strings_are_skipped_with_their_escapes() {
        assert_eq!(rounded(r#"["\"1e-400", "\\", 1]"#), None);
        assert_eq!(rounded(r#"["\\", 1e-400]"#).as_deref(), Some("1e-400"));
    }

    #[test]
    fn the_error_says_what_the_number_would_become() {
        let error = check(b"18446744073709551616").unwrap_err();
        assert_eq!(error.rounded, 18446744073709551616.0);
        assert!(
            error.to_string().contains("cannot be held exactly"),
            "{error}"
        );
    }
}
