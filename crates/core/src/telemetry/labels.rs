//! The label sets of the families: a struct per set, in the original's label order.

use prometheus_client::encoding::EncodeLabelSet;

/// `namespace`, `name`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct FlowLabels {
    pub(super) namespace: String,
    pub(super) name: String,
}

/// `dataflow_messages_received_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ReceivedLabels {
    pub(super) namespace: String,
    pub(super) name: String,
    pub(super) source_type: String,
}

/// `dataflow_messages_sent_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct SentLabels {
    pub(super) namespace: String,
    pub(super) name: String,
    pub(super) sink_type: String,
    pub(super) route: String,
}

/// One connector of one flow.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ConnectorLabels {
    pub(super) namespace: String,
    pub(super) name: String,
    pub(super) connector_type: String,
    pub(super) connector_name: String,
    pub(super) role: String,
}

/// A connector's writes to one route.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct WrittenLabels {
    pub(super) namespace: String,
    pub(super) name: String,
    pub(super) connector_type: String,
    pub(super) connector_name: String,
    pub(super) role: String,
    pub(super) route: String,
}

/// A connector's errors by operation and kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ErrorLabels {
    pub(super) namespace: String,
    pub(super) name: String,
    pub(super) connector_type: String,
    pub(super) connector_name: String,
    pub(super) role: String,
    pub(super) operation: String,
    pub(super) error_type: String,
}

/// One stream (partition, file, table) of a flow's source.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct StreamLabels {
    pub(super) namespace: String,
    pub(super) name: String,
    pub(super) stream: String,
}

/// One stage of a flow.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct StageLabels {
    pub(super) namespace: String,
    pub(super) name: String,
    pub(super) stage: String,
}

/// One channel of a flow.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct QueueLabels {
    pub(super) namespace: String,
    pub(super) name: String,
    pub(super) queue_type: String,
}

/// One step of the chain.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct TransformerLabels {
    pub(super) namespace: String,
    pub(super) name: String,
    pub(super) transformer_type: String,
    pub(super) transformer_index: String,
}

/// One step's failures by kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct TransformerErrorLabels {
    pub(super) namespace: String,
    pub(super) name: String,
    pub(super) transformer_type: String,
    pub(super) transformer_index: String,
    pub(super) error_type: String,
}

/// `dataflow_status`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct StatusLabels {
    pub(super) namespace: String,
    pub(super) name: String,
    pub(super) phase: String,
}
