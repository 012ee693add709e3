//! Protocol-level test servers for the systems no real server of runs on this machine. Each
//! speaks the wire protocol of the real one for what DataFlow uses, and its module says where
//! it differs. Dev-only: connector and binary tests depend on it, nothing ships it.
//!
//! Layout: [`schema_registry`] is a Confluent Schema Registry (schemas by id, subjects'
//! versions, basic auth, Confluent error bodies). The Kubernetes API, Trino, Nessie and OIDC
//! servers of later issues join it here.

pub mod schema_registry;
