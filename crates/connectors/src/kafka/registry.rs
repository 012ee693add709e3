//! A Confluent Schema Registry client for the subset the connector uses: schemas by id
//! (cached), with basic auth and TLS (`caFile` as a path or PEM content, `insecureSkipVerify`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use apache_avro::Schema;
use dataflow_spec::SchemaRegistryConfig;
use rustls::{ClientConfig, RootCertStore};
use serde_json::Value;

use super::config::is_pem_content;
use crate::tls::{RelaxedVerifier, add_pem_certificates};

/// Why a schema could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The registry could not be asked (network, server error): worth retrying.
    #[error("{0}")]
    Unreachable(String),
    /// The registry answered no (unknown id, credentials) or with an unusable schema.
    #[error("{0}")]
    Refused(String),
}

/// Schemas fetched from a registry, cached by id.
pub struct SchemaRegistry {
    client: reqwest::Client,
    url: String,
    basic_auth: Option<(String, String)>,
    cache: Mutex<HashMap<u32, Arc<Schema>>>,
}

impl SchemaRegistry {
    /// A client for `config` (secrets resolved).
    pub fn new(config: &SchemaRegistryConfig) -> Result<Self, String> {
        let url = config
            .url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .ok_or("schemaRegistry.url is required")?
            .trim_end_matches('/')
            .to_string();
        let basic_auth = config.basic_auth.as_ref().and_then(|auth| {
            auth.username
                .clone()
                .map(|user| (user, auth.password.clone().unwrap_or_default()))
        });
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls_config(config)?)
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| format!("schemaRegistry: {e}"))?;
        Ok(SchemaRegistry {
            client,
            url,
            basic_auth,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Registers `schema` under `subject` (`POST /subjects/{subject}/versions`): its id.
    pub async fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        let address = format!("{}/subjects/{subject}/versions", self.url);
        let body = self
            .call(
                self.client
                    .post(&address)
                    .header("Content-Type", "application/vnd.schemaregistry.v1+json")
                    .json(&serde_json::json!({ "schema": schema })),
                &address,
            )
            .await?;
        id_of(&body, &address)
    }

    /// The newest schema of `subject` (`GET /subjects/{subject}/versions/latest`): id and text.
    pub async fn latest(&self, subject: &str) -> Result<(u32, String), RegistryError> {
        let address = format!("{}/subjects/{subject}/versions/latest", self.url);
        let body = self.call(self.client.get(&address), &address).await?;
        let text = body["schema"].as_str().ok_or_else(|| {
            RegistryError::Refused(format!(
                "schema registry {address}: no `schema` in the answer"
            ))
        })?;
        Ok((id_of(&body, &address)?, text.to_string()))
    }

    /// Sends `request` (with basic auth) and returns the JSON body of a success.
    async fn call(
        &self,
        mut request: reqwest::RequestBuilder,
        address: &str,
    ) -> Result<Value, RegistryError> {
        if let Some((user, password)) = &self.basic_auth {
            request = request.basic_auth(user, Some(password));
        }
        let response = request
            .send()
            .await
            .map_err(|e| RegistryError::Unreachable(format!("schema registry {address}: {e}")))?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|e| {
            RegistryError::Unreachable(format!(
                "schema registry {address}: HTTP {status}, body not JSON: {e}"
            ))
        })?;
        if status.is_success() {
            return Ok(body);
        }
        let message = format!(
            "schema registry {address}: HTTP {status}, error_code {}: {}",
            body["error_code"],
            body["message"].as_str().unwrap_or("no message")
        );
        // Server trouble may pass; a refusal (unknown id, bad credentials) will not.
        Err(if status.is_server_error() {
            RegistryError::Unreachable(message)
        } else {
            RegistryError::Refused(message)
        })
    }

    /// The schema registered under `id`, from the cache or `GET /schemas/ids/{id}`.
    pub async fn schema(&self, id: u32) -> Result<Arc<Schema>, RegistryError> {
        if let Some(schema) = self.cache.lock().expect("cache lock").get(&id) {
            return Ok(Arc::clone(schema));
        }
        let address = format!("{}/schemas/ids/{id}", self.url);
        let body = self.call(self.client.get(&address), &address).await?;
        let text = body["schema"].as_str().ok_or_else(|| {
            RegistryError::Refused(format!(
                "schema registry {address}: no `schema` in the answer"
            ))
        })?;
        let schema = Arc::new(Schema::parse_str(text).map_err(|e| {
            RegistryError::Refused(format!(
                "schema {id} from the registry is not valid Avro: {e}"
            ))
        })?);
        self.cache
            .lock()
            .expect("cache lock")
            .insert(id, Arc::clone(&schema));
        Ok(schema)
    }
}

fn id_of(body: &Value, address: &str) -> Result<u32, RegistryError> {
    body["id"]
        .as_u64()
        .and_then(|id| u32::try_from(id).ok())
        .ok_or_else(|| {
            RegistryError::Refused(format!("schema registry {address}: no `id` in the answer"))
        })
}

/// rustls settings: the system roots plus `caFile`, or no verification.
fn tls_config(config: &SchemaRegistryConfig) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let tls = config.tls.clone().unwrap_or_default();
    if tls.insecure_skip_verify {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(RelaxedVerifier::accept_any(provider)))
            .with_no_client_auth());
    }
    let mut roots = RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(ca) = tls.ca_file.as_deref().filter(|c| !c.trim().is_empty()) {
        let pem = if is_pem_content(ca) {
            ca.as_bytes().to_vec()
        } else {
            std::fs::read(ca).map_err(|e| format!("schemaRegistry.tls.caFile {ca}: {e}"))?
        };
        add_pem_certificates(&mut roots, &pem, "schemaRegistry.tls.caFile")?;
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}
