//! Rows for COPY: the binary format (our own encoder, for the common types) and CSV (for
//! batches touching other types, which PostgreSQL then parses itself).

use base64::Engine;
use bytes::{BufMut, BytesMut};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

use super::catalog::{Column, ColumnKind};

/// `PGCOPY\n\377\r\n\0`, flags, header extension length.
pub fn binary_header(buffer: &mut BytesMut) {
    buffer.put_slice(b"PGCOPY\n\xff\r\n\0");
    buffer.put_i32(0);
    buffer.put_i32(0);
}

/// The end-of-data marker.
pub fn binary_trailer(buffer: &mut BytesMut) {
    buffer.put_i16(-1);
}

/// Appends one row in binary format; on error nothing is appended and the message names the
/// column and what was expected.
pub fn binary_row(
    buffer: &mut BytesMut,
    columns: &[&Column],
    values: &[Option<&Value>],
) -> Result<(), String> {
    let mark = buffer.len();
    buffer.put_i16(columns.len() as i16);
    for (column, value) in columns.iter().zip(values) {
        let result = match value {
            None | Some(Value::Null) => {
                buffer.put_i32(-1);
                Ok(())
            }
            Some(value) => binary_field(buffer, column.kind, value),
        };
        if let Err(expected) = result {
            buffer.truncate(mark);
            return Err(format!(
                "column {:?} ({}): {} is not {expected}",
                column.name,
                column.type_name,
                short(value.unwrap_or(&Value::Null))
            ));
        }
    }
    Ok(())
}

fn short(value: &Value) -> String {
    let mut text = value.to_string();
    if text.len() > 60 {
        let mut cut = 57;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

/// Writes the length-prefixed field; `Err` holds what the column expects.
fn binary_field(
    buffer: &mut BytesMut,
    kind: ColumnKind,
    value: &Value,
) -> Result<(), &'static str> {
    let length_at = buffer.len();
    buffer.put_i32(0);
    match kind {
        ColumnKind::Bool => buffer.put_u8(u8::from(as_bool(value).ok_or("a boolean")?)),
        ColumnKind::Int2 => buffer
            .put_i16(i16::try_from(as_i64(value).ok_or("a smallint")?).map_err(|_| "a smallint")?),
        ColumnKind::Int4 => buffer
            .put_i32(i32::try_from(as_i64(value).ok_or("an integer")?).map_err(|_| "an integer")?),
        ColumnKind::Int8 => buffer.put_i64(as_i64(value).ok_or("a bigint")?),
        ColumnKind::Float4 => {
            // `as f32` turns 1e39 into infinity: a value a real cannot hold is refused.
            let wide = as_f64(value).ok_or("a number")?;
            let narrow = wide as f32;
            if narrow.is_infinite() && wide.is_finite() {
                return Err("a real (at most about 3.4e38)");
            }
            buffer.put_f32(narrow)
        }
        ColumnKind::Float8 => buffer.put_f64(as_f64(value).ok_or("a number")?),
        ColumnKind::Numeric => {
            let text = match value {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.trim().to_string(),
                _ => return Err("a number"),
            };
            encode_numeric(buffer, &text).ok_or("a number")?;
        }
        ColumnKind::Text | ColumnKind::Other => match value {
            Value::String(s) => buffer.put_slice(s.as_bytes()),
            other => buffer.put_slice(other.to_string().as_bytes()),
        },
        ColumnKind::Json => buffer.put_slice(value.to_string().as_bytes()),
        ColumnKind::Jsonb => {
            buffer.put_u8(1);
            buffer.put_slice(value.to_string().as_bytes());
        }
        ColumnKind::Uuid => {
            let text = value.as_str().ok_or("a UUID")?;
            let uuid = uuid::Uuid::parse_str(text).map_err(|_| "a UUID")?;
            buffer.put_slice(uuid.as_bytes());
        }
        ColumnKind::Timestamp | ColumnKind::Timestamptz => {
            let time = as_time(value).ok_or("a time (RFC3339 text or epoch seconds)")?;
            buffer.put_i64(
                time.signed_duration_since(pg_epoch())
                    .num_microseconds()
                    .ok_or("a time in range")?,
            );
        }
        ColumnKind::Date => {
            let date = as_date(value).ok_or("a date (YYYY-MM-DD)")?;
            let days = date
                .signed_duration_since(pg_epoch().date_naive())
                .num_days();
            buffer.put_i32(i32::try_from(days).map_err(|_| "a date in range")?);
        }
        ColumnKind::Bytea => match value {
            Value::String(s) => match base64::engine::general_purpose::STANDARD.decode(s) {
                Ok(bytes) => buffer.put_slice(&bytes),
                Err(_) => buffer.put_slice(s.as_bytes()),
            },
            _ => return Err("text (base64 or plain) for bytea"),
        },
    }
    let length = (buffer.len() - length_at - 4) as i32;
    buffer[length_at..length_at + 4].copy_from_slice(&length.to_be_bytes());
    Ok(())
}

fn pg_epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(946_684_800, 0).expect("2000-01-01 is representable")
}

fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "1" => Some(true),
            "false" | "f" | "no" | "0" => Some(false),
            _ => None,
        },
        Value::Number(n) => match n.as_i64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        _ => None,
    }
}

fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_f64(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_time(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::String(s) => {
            if let Ok(time) = DateTime::parse_from_rfc3339(s) {
                return Some(time.with_timezone(&Utc));
            }
            for layout in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
                if let Ok(naive) = NaiveDateTime::parse_from_str(s, layout) {
                    return Some(naive.and_utc());
                }
            }
            DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%#z")
                .ok()
                .map(|t| t.with_timezone(&Utc))
        }
        Value::Number(n) => {
            let n = n.as_f64()?;
            let millis = if n.abs() >= 1e12 { n } else { n * 1000.0 };
            DateTime::from_timestamp_millis(millis as i64)
        }
        _ => None,
    }
}

fn as_date(value: &Value) -> Option<NaiveDate> {
    let text = value.as_str()?;
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .or_else(|| as_time(value).map(|t| t.date_naive()))
}

/// Encodes a decimal number (`-12.50`, `1e3`) in PostgreSQL's binary numeric format.
fn encode_numeric(buffer: &mut BytesMut, text: &str) -> Option<()> {
    let (negative, integer, fraction) = plain_decimal(text)?;
    let dscale = i16::try_from(fraction.len()).ok()?;
    // Base-10000 digits: the integer part grouped from the right, the fraction from the left.
    let mut integer_groups = Vec::new();
    let mut end = integer.len();
    while end > 0 {
        let start = end.saturating_sub(4);
        integer_groups.push(integer[start..end].parse::<i16>().ok()?);
        end = start;
    }
    integer_groups.reverse();
    let mut fraction_groups = Vec::new();
    for chunk in fraction.as_bytes().chunks(4) {
        let mut group = std::str::from_utf8(chunk).ok()?.to_string();
        while group.len() < 4 {
            group.push('0');
        }
        fraction_groups.push(group.parse::<i16>().ok()?);
    }
    let mut weight = i16::try_from(integer_groups.len() as i64 - 1).ok()?;
    let mut digits: Vec<i16> = integer_groups.into_iter().chain(fraction_groups).collect();
    while digits.first() == Some(&0) {
        digits.remove(0);
        weight -= 1;
    }
    while digits.last() == Some(&0) {
        digits.pop();
    }
    if digits.is_empty() {
        weight = 0;
    }
    buffer.put_i16(i16::try_from(digits.len()).ok()?);
    buffer.put_i16(weight);
    buffer.put_u16(if negative && !digits.is_empty() {
        0x4000
    } else {
        0
    });
    buffer.put_i16(dscale);
    for digit in digits {
        buffer.put_i16(digit);
    }
    Some(())
}

/// Most digits PostgreSQL's `numeric` holds before the decimal point.
const NUMERIC_INTEGER_DIGITS: i64 = 131_072;
/// Most digits PostgreSQL's `numeric` holds after the decimal point.
const NUMERIC_FRACTION_DIGITS: i64 = 16_383;

/// Splits a decimal (with an optional exponent) into sign, integer digits and fraction digits;
/// `None` for what is not a number or what `numeric` cannot hold. The exponent is bounded
/// before any digit is written out (`1e2147483647` overflowed, `1e1000000000` built a 1 GB
/// string).
fn plain_decimal(text: &str) -> Option<(bool, String, String)> {
    let (negative, unsigned) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], unsigned[at + 1..].parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if integer.is_empty() && fraction.is_empty()
        || !integer
            .chars()
            .chain(fraction.chars())
            .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let digits = format!("{integer}{fraction}");
    if digits.bytes().all(|d| d == b'0') {
        return Some((negative, "0".into(), String::new()));
    }
    let point = (integer.len() as i64).checked_add(exponent)?;
    let length = digits.len() as i64;
    if point > NUMERIC_INTEGER_DIGITS + length || point < -(NUMERIC_FRACTION_DIGITS + length) {
        return None;
    }
    let (integer, fraction) = if point <= 0 {
        (
            String::from("0"),
            format!("{}{digits}", "0".repeat((-point) as usize)),
        )
    } else if point as usize >= digits.len() {
        (
            format!("{digits}{}", "0".repeat(point as usize - digits.len())),
            String::new(),
        )
    } else {
        (
            digits[..point as usize].to_string(),
            digits[point as usize..].to_string(),
        )
    };
    let integer = integer.trim_start_matches('0');
    if integer.len() as i64 > NUMERIC_INTEGER_DIGITS
        || fraction.len() as i64 > NUMERIC_FRACTION_DIGITS
    {
        return None;
    }
    Some((
        negative,
        if integer.is_empty() {
            "0".into()
        } else {
            integer.to_string()
        },
        fraction,
    ))
}

/// Appends one row as CSV (text always quoted, so an empty string is not NULL). Values of
/// columns with a known type are checked and written in a canonical form, as binary COPY would
/// take them; the others are left for PostgreSQL to parse.
pub fn csv_row(
    buffer: &mut BytesMut,
    columns: &[&Column],
    values: &[Option<&Value>],
) -> Result<(), String> {
    let mark = buffer.len();
    for (index, (column, value)) in columns.iter().zip(values).enumerate() {
        if index > 0 {
            buffer.put_u8(b',');
        }
        let Some(value) = value.filter(|v| !v.is_null()) else {
            continue;
        };
        match text_field(column.kind, value) {
            Ok(text) => quote_csv(buffer, &text),
            Err(expected) => {
                buffer.truncate(mark);
                return Err(format!(
                    "column {:?} ({}): {} is not {expected}",
                    column.name,
                    column.type_name,
                    short(value)
                ));
            }
        }
    }
    buffer.put_u8(b'\n');
    Ok(())
}

/// The text PostgreSQL parses for a value of a column of `kind`.
fn text_field(kind: ColumnKind, value: &Value) -> Result<String, &'static str> {
    Ok(match kind {
        ColumnKind::Bool => as_bool(value).ok_or("a boolean")?.to_string(),
        ColumnKind::Int2 | ColumnKind::Int4 | ColumnKind::Int8 => {
            as_i64(value).ok_or("an integer")?.to_string()
        }
        ColumnKind::Float4 | ColumnKind::Float8 => as_f64(value).ok_or("a number")?.to_string(),
        ColumnKind::Numeric => {
            let text = match value {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.trim().to_string(),
                _ => return Err("a number"),
            };
            plain_decimal(&text).ok_or("a number")?;
            text
        }
        ColumnKind::Json | ColumnKind::Jsonb => value.to_string(),
        ColumnKind::Uuid => uuid::Uuid::parse_str(value.as_str().ok_or("a UUID")?)
            .map_err(|_| "a UUID")?
            .to_string(),
        ColumnKind::Timestamp | ColumnKind::Timestamptz => as_time(value)
            .ok_or("a time (RFC3339 text or epoch seconds)")?
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        ColumnKind::Date => as_date(value).ok_or("a date (YYYY-MM-DD)")?.to_string(),
        ColumnKind::Bytea => {
            let text = value.as_str().ok_or("text (base64 or plain) for bytea")?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap_or_else(|_| text.as_bytes().to_vec());
            let mut hex = String::with_capacity(2 + bytes.len() * 2);
            hex.push_str("\\x");
            for byte in bytes {
                hex.push_str(&format!("{byte:02x}"));
            }
            hex
        }
        ColumnKind::Text | ColumnKind::Other => match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        },
    })
}

fn quote_csv(buffer: &mut BytesMut, text: &str) {
    buffer.put_u8(b'"');
    for byte in text.bytes() {
        if byte == b'"' {
            buffer.put_u8(b'"');
        }
        buffer.put_u8(byte);
    }
    buffer.put_u8(b'"');
}

#[cfg(test)]
#[path = "encode_tests.rs"]
mod tests;
