//! `timestamp`: sets a field to the current time.

use std::sync::Mutex;

use chrono::Utc;
use dataflow_core::{Payload, Record};
use dataflow_spec::TimestampConfig;
use serde_json::Value;

use super::{ConfigProblem, Effect, Transformation, problem};
use crate::path::FieldPath;
use crate::timefmt::TimeFormat;

struct Timestamp {
    field: FieldPath,
    format: TimeFormat,
    /// The text of the current second, for formats without a fraction.
    cache: Option<Mutex<(i64, Value)>>,
}

pub(super) fn compile(
    config: &TimestampConfig,
) -> Result<Box<dyn Transformation>, Vec<ConfigProblem>> {
    let field = FieldPath::parse_target(&config.field_name)
        .map_err(|e| problem("fieldName", e.to_string()))?;
    let format = TimeFormat::parse(config.format.as_deref().unwrap_or("RFC3339"))
        .map_err(|e| problem("format", e))?;
    let cache = matches!(format, TimeFormat::Rfc3339 | TimeFormat::Unix)
        .then(|| Mutex::new((i64::MIN, Value::Null)));
    Ok(Box::new(Timestamp {
        field,
        format,
        cache,
    }))
}

impl Timestamp {
    fn now(&self) -> Value {
        let now = Utc::now();
        let Some(cache) = &self.cache else {
            return self.format.format(&now, false);
        };
        let Ok(mut cached) = cache.try_lock() else {
            return self.format.format(&now, false);
        };
        if cached.0 != now.timestamp() {
            *cached = (now.timestamp(), self.format.format(&now, false));
        }
        cached.1.clone()
    }
}

impl Transformation for Timestamp {
    fn apply(&self, record: &mut Record) -> Result<Effect, String> {
        if let Payload::Json(root) = &mut record.payload
            && root.is_object()
        {
            self.field.set(root, self.now())?;
        }
        Ok(Effect::Keep)
    }
}
