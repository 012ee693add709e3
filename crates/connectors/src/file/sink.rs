//! Appends one JSON line per message and fsyncs the file before the batch is acknowledged.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use dataflow_core::{ErrorType, Message, Payload, Rejection, Sink, SinkError};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

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
            | std::io::ErrorKind::TimedOut => SinkError::transient(ErrorType::Transient, message),
            _ => SinkError::fatal(ErrorType::Unknown, message),
        }
    }
}

/// How an existing file ended.
#[derive(Debug, PartialEq)]
enum Tail {
    /// Empty, missing, or ending with a newline.
    Complete,
    /// A whole JSON value without its newline (written by something else): the newline added.
    Kept,
    /// A torn line, that many bytes, cut off.
    Removed(u64),
}

/// Ends the file at a line boundary before anything is appended. A crash during a write can
/// leave a torn last line; its batch was never acknowledged and is written again, so the
/// fragment is cut off rather than left as a broken line. A last line that is whole JSON but
/// lacks its newline is kept.
fn repair_tail(path: &Path) -> std::io::Result<Tail> {
    let mut file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Tail::Complete),
        Err(error) => return Err(error),
    };
    let length = file.metadata()?.len();
    let mut block = vec![0u8; 64 * 1024];
    // Where the last line starts: after the last newline, searched backwards block by block.
    let mut end = length;
    let line_start = loop {
        if end == 0 {
            break 0;
        }
        let start = end.saturating_sub(block.len() as u64);
        let read = &mut block[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(read)?;
        if end == length && read.last() == Some(&b'\n') {
            return Ok(Tail::Complete);
        }
        if let Some(at) = read.iter().rposition(|&byte| byte == b'\n') {
            break start + at as u64 + 1;
        }
        end = start;
    };
    if line_start == length {
        return Ok(Tail::Complete);
    }
    let mut tail = Vec::with_capacity((length - line_start) as usize);
    file.seek(SeekFrom::Start(line_start))?;
    file.read_to_end(&mut tail)?;
    let repaired = if serde_json::from_slice::<Value>(&tail).is_ok() {
        file.seek(SeekFrom::End(0))?;
        file.write_all(b"\n")?;
        Tail::Kept
    } else {
        file.set_len(line_start)?;
        Tail::Removed(length - line_start)
    };
    file.sync_data()?;
    Ok(repaired)
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
        let path = self.path.clone();
        let repaired = tokio::task::spawn_blocking(move || repair_tail(&path))
            .await
            .map_err(|e| {
                SinkError::fatal(
                    ErrorType::Unknown,
                    format!("repairing {}: {e}", self.path.display()),
                )
            })?
            .map_err(|e| self.io_error("repairing", e))?;
        if let Tail::Removed(bytes) = repaired {
            tracing::warn!(path = %self.path.display(), bytes,
                "removed a torn last line a crash left; its records are written again");
        }
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await
            .map_err(|e| self.io_error("opening", e))?;
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
                rejections.push(Rejection::of_kind(index, ErrorType::InvalidData, reason));
            }
        }
        let buffer = std::mem::take(&mut self.buffer);
        let file = self.file.as_mut().expect("connected above");
        let result = async {
            file.write_all(&buffer).await?;
            // tokio's `write_all` only starts a background write, and `sync_data` keeps that
            // write's error for the next call: `flush` waits for it and returns its error, so
            // a failed write (disk full, EFBIG, EIO) is never acknowledged.
            file.flush().await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn repaired(content: &[u8]) -> (Tail, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        std::fs::write(&path, content).unwrap();
        let tail = repair_tail(&path).unwrap();
        (tail, std::fs::read(&path).unwrap())
    }

    #[test]
    fn a_torn_last_line_is_cut_off() {
        let (tail, content) = repaired(b"{\"n\":1}\n{\"n\":2}\n{\"n\":");
        assert_eq!(tail, Tail::Removed(5));
        assert_eq!(content, b"{\"n\":1}\n{\"n\":2}\n");
        // A single torn line is the whole file.
        assert_eq!(repaired(b"{\"n\":").1, b"");
    }

    #[test]
    fn a_whole_last_line_without_newline_is_kept() {
        let (tail, content) = repaired(b"{\"n\":1}\n{\"n\":2}");
        assert_eq!(tail, Tail::Kept);
        assert_eq!(content, b"{\"n\":1}\n{\"n\":2}\n");
    }

    #[test]
    fn complete_empty_and_missing_files_are_left_alone() {
        assert_eq!(repaired(b"{\"n\":1}\n").0, Tail::Complete);
        assert_eq!(repaired(b"").0, Tail::Complete);
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            repair_tail(&dir.path().join("none.jsonl")).unwrap(),
            Tail::Complete
        );
    }

    #[test]
    fn the_last_newline_is_found_across_blocks() {
        // A torn line longer than the 64 KiB search block.
        let mut content = b"{\"n\":1}\n".to_vec();
        content.extend(format!("{{\"pad\":\"{}", "x".repeat(200_000)).as_bytes());
        let (tail, kept) = repaired(&content);
        assert_eq!(tail, Tail::Removed(content.len() as u64 - 8));
        assert_eq!(kept, b"{\"n\":1}\n");
    }
}
