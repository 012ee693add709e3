//! Prints each payload as one JSON line (or indented JSON) on standard output.

use async_trait::async_trait;
use dataflow_core::{ErrorType, Message, Payload, Rejection, Sink, SinkError};
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
    /// Compact output prints JSON text as it came, numbers as written; indenting needs values.
    fn takes_json_text(&self) -> bool {
        !self.pretty
    }

    async fn write(&mut self, batch: &[Message]) -> Result<Vec<Rejection>, SinkError> {
        self.buffer.clear();
        let mut rejections = Vec::new();
        for (index, message) in batch.iter().enumerate() {
            let value = match &message.record.payload {
                Payload::Json(value) => std::borrow::Cow::Borrowed(value),
                Payload::JsonText(text) if !self.pretty && !text.contains(&b'\n') => {
                    self.buffer.extend_from_slice(text);
                    self.buffer.push(b'\n');
                    continue;
                }
                // Raw bytes are printed when they hold JSON (checked text always does).
                Payload::JsonText(bytes) | Payload::Bytes(bytes) => {
                    match serde_json::from_slice::<Value>(bytes) {
                        Ok(value) => std::borrow::Cow::Owned(value),
                        Err(e) => {
                            rejections.push(Rejection::of_kind(
                                index,
                                ErrorType::InvalidData,
                                format!("payload is not valid JSON: {e}"),
                            ));
                            continue;
                        }
                    }
                }
            };
            let written = if self.pretty {
                serde_json::to_writer_pretty(&mut self.buffer, &*value)
            } else {
                serde_json::to_writer(&mut self.buffer, &*value)
            };
            written.map_err(|e| SinkError::fatal(ErrorType::Unknown, e.to_string()))?;
            self.buffer.push(b'\n');
        }
        self.out.write_all(&self.buffer).await.map_err(|e| {
            SinkError::fatal(ErrorType::Unknown, format!("writing standard output: {e}"))
        })?;
        self.out.flush().await.map_err(|e| {
            SinkError::fatal(ErrorType::Unknown, format!("flushing standard output: {e}"))
        })?;
        Ok(rejections)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use dataflow_core::{AckToken, Record};

    fn message(payload: Payload) -> Message {
        let mut record = Record::json(Value::Null);
        record.payload = payload;
        Message::new(record, AckToken::none())
    }

    #[tokio::test]
    async fn raw_bytes_print_only_when_they_hold_json() {
        let mut sink = StdoutSink::new(false);
        let batch = [
            message(Payload::Bytes(Bytes::from_static(b"{\"a\":1}"))),
            message(Payload::Bytes(Bytes::from_static(b"not json"))),
            // Not UTF-8: refused, not printed as a replacement character.
            message(Payload::Bytes(Bytes::from_static(b"\"\xff\""))),
            message(Payload::json_text(Bytes::from_static(b"[1, 2]")).unwrap()),
        ];
        let rejected: Vec<usize> = sink
            .write(&batch)
            .await
            .unwrap()
            .iter()
            .map(|r| r.index)
            .collect();
        assert_eq!(rejected, vec![1, 2]);
    }
}
