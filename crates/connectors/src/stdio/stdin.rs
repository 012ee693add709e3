//! Reads JSON lines from standard input until it closes. Standard input cannot be re-read, so
//! its positions are not checkpointed.

use async_trait::async_trait;
use chrono::Utc;
use dataflow_core::{AckToken, ErrorType, Payload, Record, Source, SourceContext, SourceError};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The `stdin` source.
pub struct StdinSource;

#[async_trait]
impl Source for StdinSource {
    async fn run(&mut self, context: &SourceContext) -> Result<(), SourceError> {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        let mut number = 0u64;
        loop {
            let line = tokio::select! {
                line = lines.next_line() => line,
                _ = context.stopping().cancelled() => return Ok(()),
            };
            let Some(line) = line.map_err(|e| {
                SourceError::fatal(ErrorType::Unknown, format!("reading standard input: {e}"))
            })?
            else {
                return Ok(());
            };
            number += 1;
            let text = line.trim();
            if text.is_empty() {
                continue;
            }
            let mut metadata = serde_json::Map::new();
            metadata.insert("file".into(), json!("stdin"));
            metadata.insert("line".into(), json!(number));
            match context.json_payload_of(text.as_bytes()) {
                Ok(payload) => {
                    let record = Record::new(payload, metadata, Utc::now());
                    context.emit(record, AckToken::none()).await?;
                }
                Err(invalid) => {
                    let record = Record::new(Payload::Bytes(invalid.bytes), metadata, Utc::now());
                    let error = invalid.error;
                    let reason =
                        format!("line {number} of standard input is not valid JSON: {error}");
                    context
                        .reject(record, AckToken::none(), reason, ErrorType::InvalidData)
                        .await?;
                }
            }
        }
    }
}
