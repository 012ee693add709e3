//! The Kubernetes side of DataFlow: the controller (dereference → validate → build → apply →
//! status) arrives with the operator issue. Empty until then.
