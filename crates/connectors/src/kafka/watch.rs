//! librdkafka errors that no retry fixes. librdkafka keeps reconnecting after a failed SASL
//! authentication or TLS handshake and reports it only as a global error, while deliveries
//! wait for their timeout; the flow should stop instead, saying what to fix (as a Kafka Connect
//! task fails on an authentication error).

use super::floors::Rebalances;
use super::repeated::{Repeated, Report};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use tokio::sync::Notify;

/// Whether `error` needs a change of settings rather than a retry: failed authentication, a
/// TLS failure (handshake, certificate), or the idempotent producer's fatal state.
pub(super) fn needs_new_settings(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::Authentication
                | RDKafkaErrorCode::SaslAuthenticationFailed
                | RDKafkaErrorCode::SSL
                | RDKafkaErrorCode::Fatal
                // A missing ACL is a settings error: as a per-message rejection it sent every
                // message to the error sink and committed its position (S5).
                | RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::GroupAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed
                | RDKafkaErrorCode::TransactionalIdAuthorizationFailed
        )
    )
}

/// Whether librdkafka's `reason` for a transport failure is a fatal TLS alert from the broker
/// (every TLS alert but `close_notify` and `user_canceled` is fatal). With TLS 1.3 a refused
/// client certificate arrives this way, after the client finished its side of the handshake.
fn is_fatal_tls_alert(reason: &str) -> bool {
    reason.contains("SSL routines")
        && reason.contains(" alert ")
        && !reason.contains("close notify")
        && !reason.contains("user canceled")
}

/// `reason` with the user information of any `user:password@host` it holds replaced by
/// `***@`.
pub(super) fn mask_credentials(reason: &str) -> String {
    reason
        .split(' ')
        .map(|word| match word.rfind('@') {
            Some(at) if word[..at].contains(':') => {
                let start = word[..at].rfind("//").map_or(0, |slashes| slashes + 2);
                format!("{}***{}", &word[..start], &word[at..])
            }
            _ => word.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The first error of a client that needs new settings, shared with the code using the client.
#[derive(Clone, Default)]
pub(super) struct ClientWatch {
    inner: Arc<WatchInner>,
}

#[derive(Default)]
struct WatchInner {
    reason: Mutex<Option<String>>,
    raised: Notify,
}

impl ClientWatch {
    /// The error seen so far, if any.
    pub(super) fn reason(&self) -> Option<String> {
        self.inner.reason.lock().expect("watch lock").clone()
    }

    /// Waits until the client reports an error that needs new settings.
    pub(super) async fn failed(&self) -> String {
        loop {
            // Registered before the check, so a report in between is not missed.
            let raised = self.inner.raised.notified();
            if let Some(reason) = self.reason() {
                return reason;
            }
            raised.await;
        }
    }

    fn raise(&self, reason: String) {
        let mut slot = self.inner.reason.lock().expect("watch lock");
        if slot.is_none() {
            *slot = Some(reason);
        }
        drop(slot);
        self.inner.raised.notify_waiters();
    }
}

/// A client context that logs librdkafka's global errors and raises the ones that need new
/// settings on its [`ClientWatch`].
#[derive(Clone, Default)]
pub(super) struct WatchedContext {
    /// Where errors that need new settings are raised.
    pub(super) watch: ClientWatch,
    /// librdkafka repeats an error while it lasts (every retry of an unreachable broker):
    /// logged once, then summarised.
    repeated: Arc<std::sync::Mutex<Repeated>>,
    /// Counted after each rebalance (the source's stores depend on it).
    pub(super) rebalances: Rebalances,
    /// The consumer lag per `topic/partition`, from librdkafka's statistics.
    pub(super) lags: Arc<Mutex<BTreeMap<String, i64>>>,
}

impl ClientContext for WatchedContext {
    /// Keeps each partition's consumer lag (`statistics.interval.ms` turns the statistics on).
    /// Read loosely from the JSON: only the fields used here need to be there.
    fn stats_raw(&self, statistics: &[u8]) {
        let Ok(statistics) = serde_json::from_slice::<serde_json::Value>(statistics) else {
            return;
        };
        // Only the partitions assigned now have a lag: the map is made anew each time.
        let mut lags = BTreeMap::new();
        for (topic, details) in statistics["topics"].as_object().into_iter().flatten() {
            for (partition, details) in details["partitions"].as_object().into_iter().flatten() {
                // Partition -1 is librdkafka's internal one; a lag of -1 is not known yet.
                match details["consumer_lag"].as_i64() {
                    Some(lag) if lag >= 0 && partition != "-1" => {
                        lags.insert(format!("{topic}/{partition}"), lag);
                    }
                    _ => {}
                }
            }
        }
        if let Ok(mut kept) = self.lags.lock() {
            *kept = lags;
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // A broker list written with credentials (`user:password@host:9092`) comes back in
        // librdkafka's resolve errors: masked before anything is logged or raised.
        let reason = &mask_credentials(reason);
        let text = format!("{error}: {reason}");
        let report = self
            .repeated
            .lock()
            .map(|mut repeated| repeated.seen(&text, std::time::Instant::now()))
            .unwrap_or(Report::First);
        match report {
            Report::First => tracing::error!(%error, reason, "librdkafka error"),
            Report::Summary {
                count,
                for_how_long,
            } => tracing::error!(%error, reason, count, ?for_how_long, "librdkafka error repeats"),
            Report::Quiet => {}
        }
        let transport =
            error.rdkafka_error_code() == Some(RDKafkaErrorCode::BrokerTransportFailure);
        if needs_new_settings(&error) || (transport && is_fatal_tls_alert(reason)) {
            self.watch.raise(format!(
                "{error}: {reason} (retrying will not help: check the brokers' security settings, \
                 securityProtocol, tls and sasl)"
            ));
        }
    }
}

impl ConsumerContext for WatchedContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, _rebalance: &Rebalance<'_>) {
        self.rebalances.bump();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn authorization_failures_need_new_settings_not_the_error_sink() {
        // S5: a missing write ACL was a per-message rejection.
        for code in [
            RDKafkaErrorCode::TopicAuthorizationFailed,
            RDKafkaErrorCode::GroupAuthorizationFailed,
            RDKafkaErrorCode::ClusterAuthorizationFailed,
        ] {
            assert!(
                needs_new_settings(&KafkaError::MessageProduction(code)),
                "{code:?}"
            );
        }
        assert!(!needs_new_settings(&KafkaError::MessageProduction(
            RDKafkaErrorCode::MessageSizeTooLarge
        )));
    }

    #[test]
    fn credentials_in_a_broker_address_are_masked() {
        // A29: a broker list from a secret with `user:password@` was echoed by librdkafka.
        assert_eq!(
            mask_credentials("u:Zx9Secret@broker:9092/bootstrap: Failed to resolve 'broker:9092'"),
            "***@broker:9092/bootstrap: Failed to resolve 'broker:9092'"
        );
        assert_eq!(
            mask_credentials("sasl_ssl://u:p@h:9093/1: Connection refused"),
            "sasl_ssl://***@h:9093/1: Connection refused"
        );
        assert_eq!(
            mask_credentials("broker:9092/1: Connection refused"),
            "broker:9092/1: Connection refused"
        );
    }

    #[test]
    fn only_settings_errors_are_raised() {
        let context = WatchedContext::default();
        context.error(
            KafkaError::Global(RDKafkaErrorCode::AllBrokersDown),
            "1/1 brokers are down",
        );
        assert_eq!(context.watch.reason(), None);
        context.error(
            KafkaError::Global(RDKafkaErrorCode::Authentication),
            "SASL SCRAM-SHA-256 mechanism handshake failed",
        );
        context.error(KafkaError::Global(RDKafkaErrorCode::SSL), "later");
        let reason = context.watch.reason().expect("raised");
        assert!(reason.contains("SCRAM-SHA-256"), "{reason}");
        assert!(reason.contains("sasl"), "{reason}");
    }

    #[test]
    fn a_refused_client_certificate_is_raised() {
        let context = WatchedContext::default();
        context.error(
            KafkaError::Global(RDKafkaErrorCode::BrokerTransportFailure),
            "ssl://127.0.0.1:19094/bootstrap: Receive failed: Disconnected",
        );
        assert_eq!(context.watch.reason(), None);
        context.error(
            KafkaError::Global(RDKafkaErrorCode::BrokerTransportFailure),
            "ssl://127.0.0.1:19094/bootstrap: Receive failed: error:0A00045C:SSL routines::tlsv13 \
             alert certificate required: SSL alert number 116 (after 0ms in state APIVERSION_QUERY)",
        );
        assert!(
            context
                .watch
                .reason()
                .expect("raised")
                .contains("certificate required")
        );
    }

    #[tokio::test]
    async fn a_waiter_wakes_when_the_error_comes() {
        let context = WatchedContext::default();
        let watch = context.watch.clone();
        let waiter = tokio::spawn(async move { watch.failed().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        context.error(
            KafkaError::Global(RDKafkaErrorCode::SSL),
            "certificate verify failed",
        );
        let reason = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("joined");
        assert!(reason.contains("certificate verify failed"), "{reason}");
    }
}
