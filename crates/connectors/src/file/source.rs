//! Reads JSON lines (or one JSON array) from a file. The position of a line is the byte offset
//! after it, so a restart continues exactly after the last committed line.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::Utc;
use dataflow_core::{
    ErrorType, Metadata, Payload, Position, Record, Source, SourceContext, SourceError,
};
use dataflow_spec::{FileFormat, FileSourceConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncSeekExt, BufReader};

/// How long `follow` waits before looking for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// The `file` source.
pub struct FileSource {
    path: PathBuf,
    stream: String,
    format: FileFormat,
    follow: bool,
}

impl FileSource {
    /// A source reading `path` as `config` says.
    pub fn new(config: &FileSourceConfig, path: PathBuf) -> Self {
        FileSource {
            stream: config.path.clone(),
            path,
            format: config.format,
            follow: config.follow,
        }
    }

    fn record(&self, payload: Payload, line: u64, offset: u64) -> Record {
        let mut record = Record::new(payload, Metadata::new(), Utc::now());
        record
            .metadata
            .insert("file".into(), Value::String(self.stream.clone()));
        record.metadata.insert("line".into(), json!(line));
        record.metadata.insert("offset".into(), json!(offset));
        record
    }

    async fn read_lines(&self, context: &SourceContext) -> Result<(), SourceError> {
        let stream = context.stream(&self.stream);
        let stored = context.stored_position(&self.stream);
        let mut offset = stored
            .and_then(|p| p.get("offset"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let mut line_number = stored
            .and_then(|p| p.get("line"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let Some(mut file) = self.open(context).await? else {
            return Ok(()); // stopped while waiting for the file to appear
        };
        let length = file.metadata().await.map(|m| m.len()).unwrap_or(0);
        if offset > length {
            tracing::warn!(file = %self.path.display(), offset, length,
                "the file is shorter than the checkpoint (truncated or replaced); reading from the start");
            offset = 0;
            line_number = 0;
        }
        file.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(|e| SourceError::Fatal(format!("seeking {}: {e}", self.path.display())))?;
        if offset > 0 {
            tracing::info!(file = %self.path.display(), offset, line = line_number, "resuming after the checkpoint");
        }
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        let mut buffer = Vec::with_capacity(4096);
        loop {
            if context.stopping().is_cancelled() {
                return Ok(());
            }
            let read = reader
                .read_until(b'\n', &mut buffer)
                .await
                .map_err(|e| SourceError::Fatal(format!("reading {}: {e}", self.path.display())))?;
            let complete = buffer.last() == Some(&b'\n');
            if read == 0 || !complete {
                // End of the file for now. A line without its newline is only final when
                // the file is not followed.
                if self.follow {
                    tokio::select! {
                        _ = tokio::time::sleep(FOLLOW_POLL) => continue,
                        _ = context.stopping().cancelled() => return Ok(()),
                    }
                }
                if buffer.is_empty() {
                    return Ok(());
                }
            }
            let line_start = offset;
            offset += buffer.len() as u64;
            line_number += 1;
            let text = trim_line(&buffer);
            if !text.is_empty() {
                let token = stream.track(Position::Offset {
                    offset,
                    line: line_number,
                });
                match serde_json::from_slice::<Value>(text) {
                    Ok(value) => {
                        context
                            .emit(
                                self.record(Payload::Json(value), line_number, line_start),
                                token,
                            )
                            .await?;
                    }
                    Err(error) => {
                        let reason = format!(
                            "line {line_number} of {} is not valid JSON: {error}",
                            self.stream
                        );
                        let record = self.record(
                            Payload::Bytes(Bytes::copy_from_slice(text)),
                            line_number,
                            line_start,
                        );
                        context
                            .reject(record, token, reason, ErrorType::InvalidData)
                            .await?;
                    }
                }
            }
            buffer.clear();
            if !complete {
                return Ok(());
            }
        }
    }

    /// Opens the file; with `follow`, waits for a missing file to appear.
    async fn open(&self, context: &SourceContext) -> Result<Option<tokio::fs::File>, SourceError> {
        let mut waiting = false;
        loop {
            match tokio::fs::File::open(&self.path).await {
                Ok(file) => return Ok(Some(file)),
                Err(e) if self.follow && e.kind() == std::io::ErrorKind::NotFound => {
                    if !waiting {
                        tracing::info!(file = %self.path.display(), "waiting for the file to appear");
                        waiting = true;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(FOLLOW_POLL) => {}
                        _ = context.stopping().cancelled() => return Ok(None),
                    }
                }
                Err(e) => {
                    return Err(SourceError::Fatal(format!(
                        "opening {}: {e}",
                        self.path.display()
                    )));
                }
            }
        }
    }

    async fn read_array(&self, context: &SourceContext) -> Result<(), SourceError> {
        let stream = context.stream(&self.stream);
        let skip = context
            .stored_position(&self.stream)
            .and_then(|p| p.get("index"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let bytes = tokio::fs::read(&self.path)
            .await
            .map_err(|e| SourceError::Fatal(format!("reading {}: {e}", self.path.display())))?;
        let items = match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Array(items)) => items,
            Ok(_) => {
                return Err(SourceError::Fatal(format!(
                    "{}: format json expects one JSON array of records",
                    self.path.display()
                )));
            }
            Err(e) => {
                return Err(SourceError::Fatal(format!(
                    "{} is not valid JSON: {e}",
                    self.path.display()
                )));
            }
        };
        for (index, item) in items.into_iter().enumerate().skip(skip as usize) {
            if context.stopping().is_cancelled() {
                return Ok(());
            }
            let index = index as u64 + 1;
            let token = stream.track(json!({"index": index}));
            let mut record = self.record(Payload::Json(item), index, 0);
            record.metadata.remove("offset");
            record.metadata.insert("index".into(), json!(index - 1));
            context.emit(record, token).await?;
        }
        Ok(())
    }
}

fn trim_line(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r' | b' ' | b'\t') {
        end -= 1;
    }
    let mut start = 0;
    while start < end && matches!(line[start], b' ' | b'\t') {
        start += 1;
    }
    &line[start..end]
}

#[async_trait]
impl Source for FileSource {
    async fn run(&mut self, context: &SourceContext) -> Result<(), SourceError> {
        match self.format {
            FileFormat::Jsonl => self.read_lines(context).await,
            FileFormat::Json => self.read_array(context).await,
        }
    }
}
