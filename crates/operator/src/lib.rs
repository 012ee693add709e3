//! The Kubernetes side of DataFlow: the controller (dereference → validate → build → apply →
//! status) arrives with the operator issue. Empty until then.
//!
//! Layout: no modules yet; this file is the whole crate until the controller arrives.
