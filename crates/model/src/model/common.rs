//! Building blocks shared by several connectors: secret references, TLS, SASL, basic auth,
//! Schema Registry, Keycloak, metadata flattening.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

/// A reference to one key of a Kubernetes Secret. The secret's value wins over the plain field
/// it sits beside.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// Secret name (required).
    #[serde(default)]
    pub name: String,
    /// Secret namespace; defaults to the DataFlow's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Key inside the secret (required).
    #[serde(default)]
    pub key: String,
}

/// TLS settings. `caFile`, `certFile` and `keyFile` hold a path or, once a secret was resolved
/// into them, PEM content (a value starting with `-----BEGIN`, or naming no existing file).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TlsConfig {
    /// Skip server certificate verification (forced off when `caFile` is set).
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// Client certificate: path or PEM content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<String>,
    /// Client private key: path or PEM content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    /// CA certificate: path or PEM content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// Client certificate from a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<SecretRef>,
    /// Private key from a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_secret_ref: Option<SecretRef>,
    /// CA certificate from a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<SecretRef>,
}

/// SASL mechanism for Kafka.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SaslMechanism {
    /// PLAIN (also chosen when the field is empty).
    #[default]
    #[serde(rename = "plain", alias = "PLAIN", alias = "")]
    Plain,
    /// SCRAM-SHA-256.
    #[serde(rename = "scram-sha-256", alias = "SCRAM-SHA-256")]
    ScramSha256,
    /// SCRAM-SHA-512.
    #[serde(rename = "scram-sha-512", alias = "SCRAM-SHA-512")]
    ScramSha512,
}

/// SASL credentials for Kafka.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SaslConfig {
    /// `plain` (default), `scram-sha-256` or `scram-sha-512`.
    #[serde(default)]
    pub mechanism: SaslMechanism,
    /// User name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// User name from a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_secret_ref: Option<SecretRef>,
    /// Password from a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret_ref: Option<SecretRef>,
}

/// HTTP basic authentication.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BasicAuthConfig {
    /// User name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// User name from a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_secret_ref: Option<SecretRef>,
    /// Password from a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret_ref: Option<SecretRef>,
}

/// Confluent Schema Registry connection.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchemaRegistryConfig {
    /// Registry URL, e.g. `https://schema-registry:8081`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Registry URL from a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_secret_ref: Option<SecretRef>,
    /// Basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuthConfig>,
    /// TLS settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
}

/// Keycloak (or other OIDC provider) authentication for Trino.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeycloakConfig {
    /// Keycloak base URL.
    #[serde(default, rename = "serverURL", skip_serializing_if = "Option::is_none")]
    pub server_url: Option<String>,
    /// Realm name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    /// OAuth2 client id.
    #[serde(default, rename = "clientID", skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// OAuth2 client secret.
    #[serde(
        default,
        rename = "clientSecret",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_secret: Option<String>,
    /// User for the password grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password for the password grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// A long-lived token used as-is (no refresh).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Token endpoint override for OIDC providers other than Keycloak; default
    /// `<serverURL>/realms/<realm>/protocol/openid-connect/token`.
    #[serde(default, rename = "tokenURL", skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// Server URL from a secret.
    #[serde(
        default,
        rename = "serverURLSecretRef",
        skip_serializing_if = "Option::is_none"
    )]
    pub server_url_secret_ref: Option<SecretRef>,
    /// Realm from a secret.
    #[serde(
        default,
        rename = "realmSecretRef",
        skip_serializing_if = "Option::is_none"
    )]
    pub realm_secret_ref: Option<SecretRef>,
    /// Client id from a secret.
    #[serde(
        default,
        rename = "clientIDSecretRef",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_id_secret_ref: Option<SecretRef>,
    /// Client secret from a secret.
    #[serde(
        default,
        rename = "clientSecretSecretRef",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_secret_secret_ref: Option<SecretRef>,
    /// User from a secret.
    #[serde(
        default,
        rename = "usernameSecretRef",
        skip_serializing_if = "Option::is_none"
    )]
    pub username_secret_ref: Option<SecretRef>,
    /// Password from a secret.
    #[serde(
        default,
        rename = "passwordSecretRef",
        skip_serializing_if = "Option::is_none"
    )]
    pub password_secret_ref: Option<SecretRef>,
    /// Token from a secret.
    #[serde(
        default,
        rename = "tokenSecretRef",
        skip_serializing_if = "Option::is_none"
    )]
    pub token_secret_ref: Option<SecretRef>,
}

/// Batching shared by every batch sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    /// Flush when this many messages are buffered; 0 = flush by timer only.
    pub batch_size: u32,
    /// Flush this many seconds after the first buffered message; 0 = by size only.
    pub flush_interval_seconds: u32,
}

/// Accepts either a list of strings or one comma-separated string (as a secret holds it).
pub fn string_or_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(text) => split_list(&text),
        OneOrMany::Many(items) => items,
    })
}

/// Splits a comma-separated list, trimming blanks and dropping empty items.
pub fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}

/// JSON Schema of a field accepting a list of strings or one comma-separated string.
pub fn string_or_list_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "anyOf": [
            {"type": "array", "items": {"type": "string"}},
            {"type": "string"}
        ]
    })
}
