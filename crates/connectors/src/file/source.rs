//! Reads JSON lines (or one JSON array) from a file. The position of a line is the byte offset
//! after it, so a restart continues exactly after the last committed line.
//!
//! The position also holds a hash of the file's first line: a file replaced between runs is
//! read from the start instead of being resumed in the middle of a line. With `follow`, a
//! rotated file (another inode under the path) is read to its end and the new one from its
//! start, and a truncated file (`copytruncate`) is read again from its start.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::Utc;
use dataflow_core::{
    ErrorType, Metadata, Payload, Position, Record, Source, SourceContext, SourceError,
    StreamHandle,
};
use dataflow_spec::{FileFormat, FileSourceConfig};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncSeekExt, BufReader};

/// How long `follow` waits before looking for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// How much of a line longer than `maxLineBytes` its error record keeps.
const KEPT_OF_LONG_LINE: usize = 4096;

/// One line read, and where it lies in the file.
struct Line<'a> {
    /// Its bytes (at most `maxLineBytes`).
    bytes: &'a [u8],
    /// Its number, from 1.
    number: u64,
    /// Offset of its first byte.
    start: u64,
    /// Offset after its newline.
    end: u64,
    /// Longer than `maxLineBytes`: `bytes` holds its beginning only.
    oversized: bool,
}

/// Reads up to and including the next newline, keeping at most `limit` bytes of the line in
/// `line` (the rest is consumed and dropped); returns the bytes consumed (0 at the end of the
/// file) and whether the newline was reached.
async fn read_line_bounded<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<(usize, bool)> {
    let mut consumed = 0;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok((consumed, false));
        }
        let (take, newline) = match memchr::memchr(b'\n', available) {
            Some(at) => (at + 1, true),
            None => (available.len(), false),
        };
        let room = limit.saturating_sub(line.len());
        line.extend_from_slice(&available[..take.min(room)]);
        reader.consume(take);
        consumed += take;
        if newline {
            return Ok((consumed, true));
        }
    }
}

/// How much of the first line identifies a file.
const HEAD_BYTES: usize = 4096;

/// What happened to a followed file since the last look.
enum Change {
    None,
    Rotated,
    Truncated,
}

/// FNV-1a, 64 bits: a stable hash of a file's first line (stored in checkpoints).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The hash of the first line of the file at `path` (at most `HEAD_BYTES`), if it has one.
async fn first_line_hash(path: &Path) -> Option<u64> {
    let mut file = tokio::fs::File::open(path).await.ok()?;
    let mut head = vec![0u8; HEAD_BYTES];
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..]).await {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(_) => return None,
        }
    }
    let head = &head[..filled];
    match head.iter().position(|&byte| byte == b'\n') {
        Some(end) => Some(fnv1a(&head[..=end])),
        None if filled == HEAD_BYTES => Some(fnv1a(head)),
        None => None,
    }
}

/// The inode of an open file.
async fn inode_of(file: &tokio::fs::File) -> Option<u64> {
    file.metadata().await.ok().map(|metadata| metadata.ino())
}

/// The `file` source.
pub struct FileSource {
    path: PathBuf,
    stream: String,
    format: FileFormat,
    follow: bool,
    /// `maxLineBytes`.
    max_line: usize,
}

impl FileSource {
    /// A source reading `path` as `config` says.
    pub fn new(config: &FileSourceConfig, path: PathBuf) -> Self {
        FileSource {
            stream: config.path.clone(),
            path,
            format: config.format,
            follow: config.follow,
            // At least the bytes the file's identity is hashed from, so the hash of the first
            // line read equals the one taken from the file (validation asks for as much).
            max_line: usize::try_from(config.max_line_bytes)
                .unwrap_or(usize::MAX)
                .max(HEAD_BYTES),
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
        let stored_head = stored
            .and_then(|p| p.get("head"))
            .and_then(Value::as_str)
            .and_then(|text| u64::from_str_radix(text, 16).ok());
        let Some(mut file) = self.open(context).await? else {
            return Ok(()); // stopped while waiting for the file to appear
        };
        let metadata = file.metadata().await.ok();
        let mut inode = metadata.as_ref().map(|metadata| metadata.ino());
        let length = metadata.map_or(0, |metadata| metadata.len());
        let mut head = first_line_hash(&self.path).await;
        if offset > length {
            tracing::warn!(file = %self.path.display(), offset, length,
                "the file is shorter than the checkpoint (truncated or replaced); reading from the start");
            (offset, line_number) = (0, 0);
        } else if offset > 0
            && let Some(stored_head) = stored_head
            && head != Some(stored_head)
        {
            // Another file under the same name: resuming at the old offset would start in the
            // middle of some line of it.
            tracing::warn!(file = %self.path.display(), offset,
                "the file's first line differs from the checkpoint's (replaced); reading from the start");
            (offset, line_number) = (0, 0);
        }
        file.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(|e| self.io_error("seeking", e))?;
        if offset > 0 {
            tracing::info!(file = %self.path.display(), offset, line = line_number, "resuming after the checkpoint");
        }
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        let mut buffer = Vec::with_capacity(4096);
        // Bytes of the current line read so far, those past `maxLineBytes` included.
        let mut line_bytes = 0u64;
        // The followed file was rotated: reading the old one to its end before the switch.
        let mut draining_rotated = false;
        loop {
            if context.stopping().is_cancelled() {
                return Ok(());
            }
            // A line may hold `maxLineBytes` bytes besides its newline.
            let limit = self.max_line.saturating_add(1);
            let (read, mut complete) = read_line_bounded(&mut reader, &mut buffer, limit)
                .await
                .map_err(|e| self.io_error("reading", e))?;
            line_bytes += read as u64;
            let mut reopen = false;
            if read == 0 || !complete {
                // End of the file for now. A line without its newline is only final when
                // the file is not followed, or when a followed file was rotated.
                if self.follow {
                    let read_up_to = offset + line_bytes;
                    let change = if draining_rotated {
                        // The old file was read to its end once more since the rotation.
                        Change::Rotated
                    } else {
                        self.followed_file_changed(inode, read_up_to, head).await
                    };
                    match change {
                        Change::None => {
                            tokio::select! {
                                _ = tokio::time::sleep(FOLLOW_POLL) => continue,
                                _ = context.stopping().cancelled() => return Ok(()),
                            }
                        }
                        Change::Truncated => {
                            tracing::warn!(file = %self.path.display(), offset,
                                "the file was truncated; reading it from the start");
                            buffer.clear();
                            line_bytes = 0;
                            (offset, line_number) = (0, 0);
                            head = None;
                            reader
                                .seek(std::io::SeekFrom::Start(0))
                                .await
                                .map_err(|e| self.io_error("seeking", e))?;
                            continue;
                        }
                        Change::Rotated if !draining_rotated => {
                            // Lines written to the old file between the last read and the
                            // rotation: read them before switching.
                            draining_rotated = true;
                            continue;
                        }
                        Change::Rotated => {
                            reopen = true;
                            complete = true;
                        }
                    }
                }
                if line_bytes == 0 && !reopen {
                    return Ok(());
                }
            }
            if line_bytes > 0 {
                let line_start = offset;
                let oversized = line_bytes > buffer.len() as u64;
                offset += line_bytes;
                line_number += 1;
                if line_start == 0 {
                    head = Some(fnv1a(&buffer[..buffer.len().min(HEAD_BYTES)]));
                }
                let line = Line {
                    bytes: &buffer,
                    number: line_number,
                    start: line_start,
                    end: offset,
                    oversized,
                };
                self.pass_on(context, &stream, line, head).await?;
                buffer.clear();
                line_bytes = 0;
            }
            if reopen {
                tracing::info!(file = %self.path.display(), "the file was rotated; reading the new one");
                let Some(file) = self.open(context).await? else {
                    return Ok(());
                };
                inode = inode_of(&file).await;
                draining_rotated = false;
                reader = BufReader::with_capacity(256 * 1024, file);
                (offset, line_number) = (0, 0);
                head = None;
                continue;
            }
            if !complete {
                return Ok(());
            }
        }
    }

    /// Emits one line (or rejects it when it is not JSON or too long), bound to the position
    /// after it.
    async fn pass_on(
        &self,
        context: &SourceContext,
        stream: &StreamHandle,
        line: Line<'_>,
        head: Option<u64>,
    ) -> Result<(), SourceError> {
        let Line {
            bytes,
            number: line_number,
            start: line_start,
            end: offset,
            oversized,
        } = line;
        let text = trim_line(bytes);
        if text.is_empty() && !oversized {
            return Ok(());
        }
        let token = stream.track(Position::Offset {
            offset,
            line: line_number,
            head: head.unwrap_or(0),
        });
        if oversized {
            let reason = format!(
                "line {line_number} of {} is longer than maxLineBytes ({} bytes); its first {} \
                 bytes are kept here",
                self.stream,
                self.max_line,
                KEPT_OF_LONG_LINE.min(bytes.len())
            );
            let kept = Bytes::copy_from_slice(&bytes[..KEPT_OF_LONG_LINE.min(bytes.len())]);
            let record = self.record(Payload::Bytes(kept), line_number, line_start);
            return context
                .reject(record, token, reason, ErrorType::InvalidData)
                .await;
        }
        match context.json_payload_of(text) {
            Ok(payload) => {
                context
                    .emit(self.record(payload, line_number, line_start), token)
                    .await
            }
            Err(invalid) => {
                let reason = format!(
                    "line {line_number} of {} is not valid JSON: {}",
                    self.stream, invalid.error
                );
                let record = self.record(Payload::Bytes(invalid.bytes), line_number, line_start);
                context
                    .reject(record, token, reason, ErrorType::InvalidData)
                    .await
            }
        }
    }

    /// Whether the followed path now names another file (rotation, as `tail -F` notices by
    /// the inode) or was cut and written again (truncation, `copytruncate`: shorter than what
    /// was read, or a different first line when it is not shorter).
    async fn followed_file_changed(
        &self,
        inode: Option<u64>,
        read_up_to: u64,
        head: Option<u64>,
    ) -> Change {
        let Ok(metadata) = tokio::fs::metadata(&self.path).await else {
            return Change::None; // renamed away and not recreated yet: wait
        };
        if inode.is_some_and(|inode| inode != metadata.ino()) {
            Change::Rotated
        } else if metadata.len() < read_up_to {
            Change::Truncated
        } else if let Some(head) = head
            && let Some(now) = first_line_hash(&self.path).await
            && now != head
        {
            // The path may have been rotated between the look and the hash.
            match tokio::fs::metadata(&self.path).await {
                Ok(again) if inode.is_some_and(|inode| inode != again.ino()) => Change::Rotated,
                _ => Change::Truncated,
            }
        } else {
            Change::None
        }
    }

    /// A failure to read the file (`reading`, `seeking`, `opening`), which stops the flow.
    fn io_error(&self, what: &str, error: std::io::Error) -> SourceError {
        SourceError::fatal(
            ErrorType::Unknown,
            format!("{what} {}: {error}", self.path.display()),
        )
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
                    return Err(self.io_error("opening", e));
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
        let bytes = Bytes::from(
            tokio::fs::read(&self.path)
                .await
                .map_err(|e| self.io_error("reading", e))?,
        );
        // Each item is kept as its text, so that numbers pass on exactly as written.
        let items = match serde_json::from_slice::<Vec<&RawValue>>(&bytes) {
            Ok(items) => items,
            Err(e) => {
                let is_array = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
                let reason = if is_array {
                    format!("{} is not valid JSON: {e}", self.path.display())
                } else {
                    format!(
                        "{}: format json expects one JSON array of records",
                        self.path.display()
                    )
                };
                return Err(SourceError::fatal(ErrorType::Unknown, reason));
            }
        };
        for (index, item) in items.into_iter().enumerate().skip(skip as usize) {
            if context.stopping().is_cancelled() {
                return Ok(());
            }
            let index = index as u64 + 1;
            let token = stream.track(json!({"index": index}));
            let text = bytes.slice_ref(item.get().as_bytes());
            let mut record = self.record(Payload::JsonText(text), index, 0);
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
