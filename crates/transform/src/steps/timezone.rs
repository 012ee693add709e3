//! `timezone`: converts time fields (RFC3339 text, with or without offset, or epoch seconds /
//! milliseconds) to another zone. Missing and null fields are skipped; anything else that is not
//! a time is an error (and nothing is changed).

use chrono::{DateTime, FixedOffset, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use dataflow_core::{Payload, Record};
use dataflow_spec::TimezoneConfig;
use serde_json::Value;

use super::{ConfigProblem, Effect, Transformation, compile_paths};
use crate::path::FieldPath;
use crate::timefmt::TimeFormat;

/// An IANA zone or a fixed offset.
#[derive(Debug, Clone, Copy)]
pub enum Zone {
    /// `Europe/Moscow`, `UTC`, …
    Named(Tz),
    /// `+03:00`.
    Fixed(FixedOffset),
}

impl Zone {
    /// Parses an IANA name or `±HH:MM`.
    pub fn parse(text: &str) -> Result<Zone, String> {
        if let Some(sign) = text.chars().next().filter(|c| *c == '+' || *c == '-') {
            let parsed = text[1..]
                .split_once(':')
                .and_then(|(h, m)| Some((h.parse::<i32>().ok()?, m.parse::<i32>().ok()?)));
            let Some((hours, minutes)) = parsed.filter(|(h, m)| *h <= 23 && *m <= 59) else {
                return Err(format!("{text:?} is not an offset such as +03:00"));
            };
            let seconds = (hours * 3600 + minutes * 60) * if sign == '-' { -1 } else { 1 };
            return Ok(Zone::Fixed(
                FixedOffset::east_opt(seconds).expect("within a day"),
            ));
        }
        text.parse::<Tz>()
            .map(Zone::Named)
            .map_err(|_| format!("{text:?} is not an IANA time zone (such as Europe/Berlin) or an offset (such as +03:00)"))
    }

    fn offset_at(&self, local: &NaiveDateTime) -> Option<FixedOffset> {
        match self {
            Zone::Named(tz) => tz
                .offset_from_local_datetime(local)
                .earliest()
                .map(|o| o.fix()),
            Zone::Fixed(offset) => Some(*offset),
        }
    }
}

struct Timezone {
    fields: Vec<FieldPath>,
    target: Zone,
    source: Zone,
    format: TimeFormat,
}

pub(super) fn compile(
    config: &TimezoneConfig,
) -> Result<Box<dyn Transformation>, Vec<ConfigProblem>> {
    let mut problems = Vec::new();
    let fields = compile_paths("fields", &config.fields, FieldPath::parse)
        .map_err(|p| problems.extend(p))
        .ok();
    let target = Zone::parse(&config.timezone)
        .map_err(|e| problems.push(("timezone".into(), e)))
        .ok();
    let source = Zone::parse(config.source_timezone.as_deref().unwrap_or("UTC"))
        .map_err(|e| problems.push(("sourceTimezone".into(), e)))
        .ok();
    let format = match config.format.as_deref().unwrap_or("RFC3339Nano") {
        "RFC3339Nano" => Some(TimeFormat::Rfc3339Nano),
        "RFC3339" => Some(TimeFormat::Rfc3339),
        "UnixMilli" => Some(TimeFormat::UnixMilli),
        other => {
            problems.push((
                "format".into(),
                format!(
                    "{other:?} is not allowed (expected one of: RFC3339Nano, RFC3339, UnixMilli)"
                ),
            ));
            None
        }
    };
    match (fields, target, source, format) {
        (Some(fields), Some(target), Some(source), Some(format)) if problems.is_empty() => {
            Ok(Box::new(Timezone {
                fields,
                target,
                source,
                format,
            }))
        }
        _ => Err(problems),
    }
}

impl Timezone {
    fn read(&self, value: &Value) -> Result<Option<DateTime<Utc>>, String> {
        let epoch = |n: f64| {
            let millis = if n.abs() >= 1e12 { n } else { n * 1000.0 };
            Utc.timestamp_millis_opt(millis.round() as i64)
                .single()
                .ok_or_else(|| format!("{n} is out of range"))
        };
        match value {
            Value::Null => Ok(None),
            Value::Number(n) => epoch(n.as_f64().unwrap_or_default()).map(Some),
            Value::String(text) => {
                if let Ok(time) = DateTime::parse_from_rfc3339(text) {
                    return Ok(Some(time.with_timezone(&Utc)));
                }
                for layout in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
                    if let Ok(local) = NaiveDateTime::parse_from_str(text, layout) {
                        let offset = self
                            .source
                            .offset_at(&local)
                            .ok_or_else(|| format!("{text:?} does not exist in the source zone"))?;
                        let time = offset
                            .from_local_datetime(&local)
                            .single()
                            .ok_or_else(|| format!("{text:?} is ambiguous"))?;
                        return Ok(Some(time.with_timezone(&Utc)));
                    }
                }
                match text.trim().parse::<f64>() {
                    Ok(n) => epoch(n).map(Some),
                    Err(_) => Err(format!(
                        "{text:?} is neither an RFC3339 time nor an epoch number"
                    )),
                }
            }
            other => Err(format!("{other} is not a time")),
        }
    }

    fn write(&self, time: DateTime<Utc>) -> Value {
        match self.target {
            Zone::Named(tz) => self.format.format(&time.with_timezone(&tz), true),
            Zone::Fixed(offset) => self.format.format(&time.with_timezone(&offset), true),
        }
    }
}

impl Transformation for Timezone {
    fn apply(&self, record: &mut Record) -> Result<Effect, String> {
        let Payload::Json(root) = &mut record.payload else {
            return Ok(Effect::Keep);
        };
        let mut converted = Vec::with_capacity(self.fields.len());
        for path in &self.fields {
            let values = path
                .get_all(root)
                .into_iter()
                .map(|value| {
                    self.read(value)
                        .map(|time| time.map(|t| self.write(t)))
                        .map_err(|e| format!("{path}: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            converted.push(values);
        }
        for (path, values) in self.fields.iter().zip(converted) {
            let mut values = values.into_iter();
            path.for_each_mut(root, &mut |slot| {
                if let Some(Some(value)) = values.next() {
                    *slot = value;
                }
            });
        }
        Ok(Effect::Keep)
    }
}
