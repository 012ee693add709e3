//! Appends one JSON line per message and fsyncs the file before the batch is acknowledged.

use std::path::PathBuf;

use async_trait::async_trait;
use dataflow_core::{Message, Payload, Rejection, Sink, SinkError};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// The `file` sink.
pub struct FileSink {
    path: PathBuf,
    file: Option<tokio::fs::File>,
    buffer: Vec<u8>,
}

impl FileSink {
    /// A sink appending to `path`.
    pub fn new(path: PathBuf) -> Self {
        FileSink {
            path,
            file: None,
            buffer: Vec::with_capacity(1 << 20),
        }
    }

    fn io_error(&self, what: &str, error: std::io::Error) -> SinkError {
        let message = format!("{what} {}: {error}", self.path.display());
        match error.kind() {
            std::io::ErrorKind::Interrupted
            | std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::TimedOut => SinkError::Transient(message),
            _ => SinkError::Fatal(message),
        }
    }
}

/// The JSON line of a payload, or why it cannot be one.
fn json_line(payload: &Payload, out: &mut Vec<u8>) -> Result<(), String> {
    match payload {
        Payload::Json(value) => {
            serde_json::to_writer(&mut *out, value).map_err(|e| e.to_string())?;
        }
        // Checked JSON text on one line goes out as it came.
        Payload::JsonText(bytes) if !bytes.iter().any(|&b| b == b'\n' || b == b'\r') => {
            out.extend_from_slice(bytes);
        }
        Payload::JsonText(bytes) | Payload::Bytes(bytes) => {
            let value: Value = serde_json::from_slice(bytes).map_err(|e| {
                format!("payload is not valid JSON, so it cannot be written as a JSON line: {e}")
            })?;
            serde_json::to_writer(&mut *out, &value).map_err(|e| e.to_string())?;
        }
    }
    out.push(b'\n');
    Ok(())
}

#[async_trait]
impl Sink for FileSink {
    fn takes_json_text(&self) -> bool {
        true
    }

    async fn connect(&mut self) -> Result<(), SinkError> {
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| self.io_error("creating the directory of", e))?;
        }
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.path)
            .await
            .map_err(|e| self.io_error("opening", e))?;
        // A crash can leave a torn last line; start on a fresh line so the next record is
        // intact (the torn one was never acknowledged and will be written again).
        let length = file
            .metadata()
            .await
            .map_err(|e| self.io_error("reading", e))?
            .len();
        if length > 0 {
            file.seek(std::io::SeekFrom::Start(length - 1))
                .await
                .map_err(|e| self.io_error("seeking", e))?;
            let mut last = [0u8; 1];
            file.read_exact(&mut last)
                .await
                .map_err(|e| self.io_error("reading", e))?;
            if last[0] != b'\n' {
                file.write_all(b"\n")
                    .await
                    .map_err(|e| self.io_error("repairing", e))?;
            }
        }
        self.file = Some(file);
        Ok(())
    }

    async fn write(&mut self, batch: &[Message]) -> Result<Vec<Rejection>, SinkError> {
        if self.file.is_none() {
            self.connect().await?;
        }
        self.buffer.clear();
        let mut rejections = Vec::new();
        for (index, message) in batch.iter().enumerate() {
            let mark = self.buffer.len();
            if let Err(reason) = json_line(&message.record.payload, &mut self.buffer) {
                self.buffer.truncate(mark);
                rejections.push(Rejection::new(index, reason));
            }
        }
        let buffer = std::mem::take(&mut self.buffer);
        let file = self.file.as_mut().expect("connected above");
        let result = async {
            file.write_all(&buffer).await?;
            file.sync_data().await
        }
        .await;
        self.buffer = buffer;
        if let Err(error) = result {
            self.file = None; // reopen (and repair) on the retry
            return Err(self.io_error("writing", error));
        }
        Ok(rejections)
    }

    async fn close(&mut self) -> Result<(), SinkError> {
        if let Some(mut file) = self.file.take() {
            file.flush()
                .await
                .map_err(|e| self.io_error("closing", e))?;
        }
        Ok(())
    }
}
