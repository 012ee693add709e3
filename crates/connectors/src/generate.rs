//! The `generate` source: synthetic messages from a template, bounded by `count`, paced by
//! `ratePerSecond`. Its position is the number of messages generated, so a restarted bounded
//! run continues where the last committed one stopped.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{SecondsFormat, Utc};
use dataflow_core::{
    BuildError, Payload, Position, Record, Registry, Source, SourceContext, SourceError,
};
use dataflow_spec::template::{Piece, Placeholder, Template, default_template};
use dataflow_spec::{GenerateSourceConfig, SourceSpec};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

const STREAM: &str = "generate";

/// The `generate` source.
pub struct GenerateSource {
    template: Template,
    count: Option<u64>,
    rate: Option<f64>,
    rng: SmallRng,
}

impl GenerateSource {
    /// A source generating from `config`.
    pub fn new(config: &GenerateSourceConfig) -> Result<Self, BuildError> {
        let template_value = config.template.clone().unwrap_or_else(default_template);
        let template = Template::compile(&template_value).map_err(BuildError)?;
        Ok(GenerateSource {
            template,
            count: config.count,
            rate: config.rate_per_second,
            rng: SmallRng::from_os_rng(),
        })
    }

    /// Renders the template for message number `seq`.
    pub fn render(&mut self, seq: u64) -> Value {
        let now = Utc::now();
        render(&self.template, seq, &now, &mut self.rng)
    }
}

fn render(template: &Template, seq: u64, now: &chrono::DateTime<Utc>, rng: &mut SmallRng) -> Value {
    match template {
        Template::Literal(value) => value.clone(),
        Template::Number(Placeholder::Seq) => json!(seq),
        Template::Number(Placeholder::RandInt(low, high)) => json!(rng.random_range(*low..=*high)),
        Template::Number(other) => Value::String(placeholder_text(other, seq, now, rng)),
        Template::Text(pieces) => {
            let mut text = String::new();
            for piece in pieces {
                match piece {
                    Piece::Text(literal) => text.push_str(literal),
                    Piece::Placeholder(placeholder) => {
                        text.push_str(&placeholder_text(placeholder, seq, now, rng))
                    }
                }
            }
            Value::String(text)
        }
        Template::Array(items) => {
            Value::Array(items.iter().map(|t| render(t, seq, now, rng)).collect())
        }
        Template::Object(fields) => {
            let mut object = Map::with_capacity(fields.len());
            for (key, field) in fields {
                object.insert(key.clone(), render(field, seq, now, rng));
            }
            Value::Object(object)
        }
    }
}

fn placeholder_text(
    placeholder: &Placeholder,
    seq: u64,
    now: &chrono::DateTime<Utc>,
    rng: &mut SmallRng,
) -> String {
    const ALPHANUMERIC: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    match placeholder {
        Placeholder::Seq => seq.to_string(),
        Placeholder::Uuid => uuid::Builder::from_random_bytes(rng.random())
            .into_uuid()
            .to_string(),
        Placeholder::Now => now.to_rfc3339_opts(SecondsFormat::Millis, true),
        Placeholder::RandInt(low, high) => rng.random_range(*low..=*high).to_string(),
        Placeholder::RandString(length) => (0..*length)
            .map(|_| ALPHANUMERIC[rng.random_range(0..ALPHANUMERIC.len())] as char)
            .collect(),
        Placeholder::Pick(choices) => choices[rng.random_range(0..choices.len())].clone(),
    }
}

#[async_trait]
impl Source for GenerateSource {
    async fn run(&mut self, context: &SourceContext) -> Result<(), SourceError> {
        let stream = context.stream(STREAM);
        let first = context
            .stored_position(STREAM)
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let end = self.count.unwrap_or(u64::MAX);
        let started = Instant::now();
        let mut seq = first;
        while seq < end {
            if context.stopping().is_cancelled() {
                return Ok(());
            }
            if let Some(rate) = self.rate {
                let due = started + Duration::from_secs_f64((seq - first) as f64 / rate);
                if due > Instant::now() {
                    tokio::select! {
                        _ = tokio::time::sleep_until(due) => {}
                        _ = context.stopping().cancelled() => return Ok(()),
                    }
                }
            }
            let payload = self.render(seq);
            let mut metadata = Map::new();
            metadata.insert("seq".into(), json!(seq));
            let record = Record::new(Payload::Json(payload), metadata, Utc::now());
            let token = stream.track(Position::Count(seq + 1));
            context.emit(record, token).await?;
            seq += 1;
        }
        Ok(())
    }
}

/// Registers the `generate` source.
pub fn register(registry: &mut Registry) {
    registry.register_source("generate", |spec, _| match spec {
        SourceSpec::Generate(config) => Ok(Box::new(GenerateSource::new(config)?)),
        other => Err(BuildError(format!(
            "generate source given a {} config",
            other.type_name()
        ))),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_numbers_and_strings() {
        let config = GenerateSourceConfig {
            template: Some(
                json!({"id": "{{seq}}", "n": "{{randInt 3 3}}", "s": "x{{seq}}", "p": "{{pick a}}", "r": "{{randString 5}}", "u": "{{uuid}}"}),
            ),
            ..Default::default()
        };
        let mut source = GenerateSource::new(&config).unwrap();
        let value = source.render(41);
        assert_eq!(value["id"], json!(41));
        assert_eq!(value["n"], json!(3));
        assert_eq!(value["s"], json!("x41"));
        assert_eq!(value["p"], json!("a"));
        assert_eq!(value["r"].as_str().unwrap().len(), 5);
        assert_eq!(value["u"].as_str().unwrap().len(), 36);
    }
}
