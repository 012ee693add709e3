//! Per-message failures: where they go (the error sink, or a loud stop), and the error record
//! written for them (original-behaviour §3.2 plus stage and error type).

use std::sync::{Arc, Mutex};

use base64::Engine;
use chrono::{SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use dataflow_spec::TransformErrorPolicy;

use crate::classify::ErrorType;
use crate::message::{Message, Payload, Record};
use crate::stats::Stats;

/// A message that failed at some stage.
#[derive(Debug)]
pub struct Failure {
    /// The failed message, with its token.
    pub message: Message,
    /// Why.
    pub reason: String,
    /// Kind of failure.
    pub error_type: ErrorType,
    /// `source`, `sink` or `transform:<index>:<type>`.
    pub stage: String,
    /// Type of the sink the message was meant for (`postgresql`, `file`, …).
    pub original_sink: String,
}

/// Shared state of a running flow: the first fatal error and the abort signal.
#[derive(Debug, Default)]
pub struct FlowState {
    fatal: Mutex<Option<String>>,
    abort: CancellationToken,
}

impl FlowState {
    /// Records a fatal error (the first one wins) and aborts the flow: nothing more is
    /// acknowledged.
    pub fn fail(&self, reason: impl Into<String>) {
        let reason = reason.into();
        let mut fatal = self.fatal.lock().expect("flow state lock");
        if fatal.is_none() {
            tracing::error!(%reason, "flow stopped");
            *fatal = Some(reason);
        }
        drop(fatal);
        self.abort.cancel();
    }

    /// The fatal error, if any.
    pub fn fatal(&self) -> Option<String> {
        self.fatal.lock().expect("flow state lock").clone()
    }

    /// Fires when the flow is aborted.
    pub fn abort_token(&self) -> &CancellationToken {
        &self.abort
    }

    /// Whether the flow was aborted.
    pub fn is_aborted(&self) -> bool {
        self.abort.is_cancelled()
    }
}

/// Sends failures to the error sink, or stops the flow when there is none.
#[derive(Clone)]
pub struct FailureRouter {
    error_sink: Option<mpsc::Sender<Failure>>,
    state: Arc<FlowState>,
    stats: Arc<Stats>,
    skip_transform_failures: bool,
}

impl FailureRouter {
    /// A router to `error_sink` (or to a stop when `None`).
    pub fn new(
        error_sink: Option<mpsc::Sender<Failure>>,
        state: Arc<FlowState>,
        stats: Arc<Stats>,
    ) -> Self {
        FailureRouter {
            error_sink,
            state,
            stats,
            skip_transform_failures: false,
        }
    }

    /// Sets what a transformation failure does when there is no error sink.
    pub fn on_transform_error(mut self, policy: TransformErrorPolicy) -> Self {
        self.skip_transform_failures = policy == TransformErrorPolicy::Skip;
        self
    }

    /// The state of the flow this router serves.
    pub(crate) fn state(&self) -> Arc<FlowState> {
        Arc::clone(&self.state)
    }

    /// Routes one failure. Returns false when the flow stops because of it (no error sink, or
    /// the error sink is gone); the failed message is then not acknowledged.
    pub async fn route(&self, failure: Failure) -> bool {
        self.stats.add_failed(1);
        tracing::warn!(
            stage = %failure.stage,
            error_type = %failure.error_type,
            message = %failure.message.record.describe(),
            reason = %failure.reason,
            "message failed"
        );
        let Some(error_sink) = &self.error_sink else {
            self.state.fail(format!(
                "{} failed on message {}: {} (no error sink is configured, so the flow stops \
                 here and nothing after this message is acknowledged)",
                failure.stage,
                failure.message.record.describe(),
                failure.reason
            ));
            return false;
        };
        if error_sink.send(failure).await.is_err() {
            self.state.fail("the error sink stopped");
            return false;
        }
        true
    }

    /// Routes a transformation failure: to the error sink when there is one; without one it
    /// stops the flow like any failure, unless `onTransformError: skip` has it counted, logged
    /// and acknowledged (skipped). Returns false when the flow stops.
    pub async fn route_transform_failure(&self, failure: Failure) -> bool {
        if self.error_sink.is_some() || !self.skip_transform_failures {
            return self.route(failure).await;
        }
        self.stats.add_failed(1);
        self.stats.add_skipped(1);
        tracing::warn!(
            stage = %failure.stage,
            message = %failure.message.record.describe(),
            reason = %failure.reason,
            "transformation failed; the message is skipped (onTransformError: skip; configure \
             `errors` to keep it)"
        );
        failure.message.ack.ack();
        true
    }
}

/// Builds the error record written to the error sink for a failure.
pub fn error_record(failure: &Failure) -> Record {
    let original = &failure.message.record;
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let mut error = Map::new();
    error.insert("message".into(), Value::String(failure.reason.clone()));
    error.insert("timestamp".into(), Value::String(now.clone()));
    error.insert(
        "original_sink".into(),
        Value::String(failure.original_sink.clone()),
    );
    error.insert("stage".into(), Value::String(failure.stage.clone()));
    error.insert(
        "error_type".into(),
        Value::String(failure.error_type.as_str().into()),
    );
    if !original.metadata.is_empty() {
        error.insert(
            "metadata".into(),
            Value::Object(Map::clone(&original.metadata)),
        );
    }
    let original_message = match &original.payload {
        Payload::Json(Value::Object(object)) => Value::Object(object.clone()),
        Payload::Json(other) => json!({"original_data": other.to_string()}),
        Payload::JsonText(bytes) | Payload::Bytes(bytes) => {
            // Text with a number a value would round is kept as text, exactly.
            let exact = serde_json::from_slice::<Value>(bytes)
                .ok()
                .and_then(|value| crate::message::refuse_inexact(value, bytes).ok());
            match exact {
                Some(Value::Object(object)) => Value::Object(object),
                // Bytes that are not UTF-8 are also kept exactly, so the record can be
                // replayed (the text form replaces them with U+FFFD).
                _ => match std::str::from_utf8(bytes) {
                    Ok(text) => json!({"original_data": text}),
                    Err(_) => json!({
                        "original_data": String::from_utf8_lossy(bytes),
                        "original_data_base64": base64::engine::general_purpose::STANDARD.encode(bytes),
                    }),
                },
            }
        }
    };
    let mut metadata = original.metadata.clone();
    metadata.insert("error".into(), Value::String(failure.reason.clone()));
    metadata.insert("error_timestamp".into(), Value::String(now));
    metadata.insert(
        "original_sink".into(),
        Value::String(failure.original_sink.clone()),
    );
    metadata.insert("error_stage".into(), Value::String(failure.stage.clone()));
    metadata.insert(
        "error_type".into(),
        Value::String(failure.error_type.as_str().into()),
    );
    metadata.insert("is_error_message".into(), Value::Bool(true));
    metadata.insert("error_message_approximate".into(), Value::Bool(false));
    Record::new(
        Payload::Json(json!({"error": error, "original_message": original_message})),
        metadata,
        original.timestamp,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ack::AckToken;

    fn failure(payload: Value) -> Failure {
        let mut record = Record::json(payload);
        record.metadata.insert("id".into(), json!(7));
        Failure {
            message: Message::new(record, AckToken::none()),
            reason: "value too long".into(),
            error_type: ErrorType::InvalidData,
            stage: "sink".into(),
            original_sink: "postgresql".into(),
        }
    }

    #[test]
    fn record_follows_the_original_format() {
        let record = error_record(&failure(json!({"name": "x"})));
        let Payload::Json(body) = &record.payload else {
            panic!()
        };
        assert_eq!(body["original_message"], json!({"name": "x"}));
        assert_eq!(body["error"]["message"], "value too long");
        assert_eq!(body["error"]["original_sink"], "postgresql");
        assert_eq!(body["error"]["stage"], "sink");
        assert_eq!(body["error"]["error_type"], "invalid_data");
        assert_eq!(body["error"]["metadata"], json!({"id": 7}));
        assert_eq!(record.metadata["is_error_message"], true);
        assert_eq!(record.metadata["id"], 7);
    }

    #[test]
    fn invalid_utf8_is_kept_exactly_in_base64() {
        // A16: only the lossy text was kept, so the original bytes were gone.
        let mut bad = failure(json!(null));
        bad.message.record.payload =
            Payload::Bytes(bytes::Bytes::from_static(b"{\"a\": \"\xff\xfe\"}"));
        let record = error_record(&bad);
        let Payload::Json(body) = &record.payload else {
            panic!()
        };
        assert_eq!(
            body["original_message"]["original_data_base64"],
            "eyJhIjogIv/+In0="
        );
        assert!(
            body["original_message"]["original_data"]
                .as_str()
                .unwrap()
                .contains('\u{fffd}')
        );
    }

    #[test]
    fn non_object_payloads_become_original_data() {
        let record = error_record(&failure(json!([1, 2])));
        let Payload::Json(body) = &record.payload else {
            panic!()
        };
        assert_eq!(body["original_message"], json!({"original_data": "[1,2]"}));
    }
}
