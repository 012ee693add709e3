//! `timestamp`: sets a field to the current time.

use chrono::Utc;
use dataflow_core::{Payload, Record};
use dataflow_spec::TimestampConfig;

use super::{ConfigProblem, Effect, Transformation, problem};
use crate::path::FieldPath;
use crate::timefmt::TimeFormat;

struct Timestamp {
    field: FieldPath,
    format: TimeFormat,
}

pub(super) fn compile(
    config: &TimestampConfig,
) -> Result<Box<dyn Transformation>, Vec<ConfigProblem>> {
    let field = FieldPath::parse_target(&config.field_name)
        .map_err(|e| problem("fieldName", e.to_string()))?;
    let format = TimeFormat::parse(config.format.as_deref().unwrap_or("RFC3339"))
        .map_err(|e| problem("format", e))?;
    Ok(Box::new(Timestamp { field, format }))
}

impl Transformation for Timestamp {
    fn apply(&self, record: &mut Record) -> Result<Effect, String> {
        if let Payload::Json(root) = &mut record.payload {
            if root.is_object() {
                self.field
                    .set(root, self.format.format(&Utc::now(), false))?;
            }
        }
        Ok(Effect::Keep)
    }
}
