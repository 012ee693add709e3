//! Prints each payload as one JSON line (or indented JSON) on standard output.

use async_trait::async_trait;
use dataflow_core::{Message, Rejection, Sink, SinkError};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

/// The `stdout` sink.
pub struct StdoutSink {
    pretty: bool,
    out: tokio::io::Stdout,
    buffer: Vec<u8>,
}

impl StdoutSink {
    /// A sink printing compact (or, with `pretty`, indented) JSON.
    pub fn new(pretty: bool) -> Self {
        StdoutSink {
            pretty,
            out: tokio::io::stdout(),
            buffer: Vec::new(),
        }
    }
}

#[async_trait]
impl Sink for StdoutSink {
    async fn write(&mut self, batch: &[Message]) -> Result<Vec<Rejection>, SinkError> {
        self.buffer.clear();
        let mut rejections = Vec::new();
        for (index, message) in batch.iter().enumerate() {
            let value = match message.record.payload.value() {
                Some(value) => value,
                // Raw bytes: printed when they hold JSON.
                None => match serde_json::from_str::<Value>(&message.record.payload.to_json_text())
                {
                    Ok(value) => std::borrow::Cow::Owned(value),
                    Err(e) => {
                        rejections.push(Rejection::new(
                            index,
                            format!("payload is not valid JSON: {e}"),
                        ));
                        continue;
                    }
                },
            };
            let written = if self.pretty {
                serde_json::to_writer_pretty(&mut self.buffer, &*value)
            } else {
                serde_json::to_writer(&mut self.buffer, &*value)
            };
            written.map_err(|e| SinkError::Fatal(e.to_string()))?;
            self.buffer.push(b'\n');
        }
        self.out
            .write_all(&self.buffer)
            .await
            .map_err(|e| SinkError::Fatal(format!("writing standard output: {e}")))?;
        self.out
            .flush()
            .await
            .map_err(|e| SinkError::Fatal(format!("flushing standard output: {e}")))?;
        Ok(rejections)
    }
}
