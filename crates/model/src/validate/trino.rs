//! The rules of the Trino sink and connection (Keycloak OAuth2 included).

use super::*;

impl Rules {
    /// The rules of a TrinoSink config at `path`.
    pub(super) fn trino_sink(&mut self, c: &TrinoSinkConfig, path: &str) {
        self.trino_connection(path, &c.connection, Table::Required);
        if c.upsert_mode {
            self.conflict_key(path, &c.conflict_key);
            let catalog = c.connection.catalog.as_deref().unwrap_or_default();
            if c.connection.catalog_secret_ref.is_none()
                && !catalog.to_lowercase().contains("iceberg")
            {
                self.error(
                    field(path, "upsertMode"),
                    format!(
                        "upsertMode uses MERGE, which needs an Iceberg catalog (a catalog whose name \
                         contains \"iceberg\"); catalog is {catalog:?}"
                    ),
                );
            }
            self.warning(
                field(path, "upsertMode"),
                "Trino upserts run one MERGE per batch; expect lower throughput than inserts",
            );
        }
        if c.query_timeout_seconds == 0 {
            self.error(
                field(path, "queryTimeoutSeconds"),
                "queryTimeoutSeconds must be at least 1",
            );
        }
        self.metadata_columns(path, c.raw_mode, &c.metadata_columns);
        self.batch_warning(path, "trino", c.batch.size, 10);
    }

    pub(super) fn trino_connection(&mut self, path: &str, c: &TrinoConnection, table: Table) {
        self.required(path, "serverURL", &c.server_url, &c.server_url_secret_ref);
        self.required(path, "catalog", &c.catalog, &c.catalog_secret_ref);
        self.required(path, "schema", &c.schema, &c.schema_secret_ref);
        self.table(path, &c.table, &c.table_secret_ref, table);
        self.keycloak(path, &c.keycloak);
    }

    pub(super) fn keycloak(&mut self, path: &str, keycloak: &Option<KeycloakConfig>) {
        let Some(k) = keycloak else { return };
        let path = field(path, "keycloak");
        if is_set(&k.token) || k.token_secret_ref.is_some() {
            return;
        }
        if !is_set(&k.token_url) {
            self.required(&path, "serverURL", &k.server_url, &k.server_url_secret_ref);
            self.required(&path, "realm", &k.realm, &k.realm_secret_ref);
        }
        self.required(&path, "clientID", &k.client_id, &k.client_id_secret_ref);
        let has_user = is_set(&k.username) || k.username_secret_ref.is_some();
        let has_password = is_set(&k.password) || k.password_secret_ref.is_some();
        if has_user != has_password {
            self.error(
                field(&path, if has_user { "password" } else { "username" }),
                "the password grant needs both username and password",
            );
        }
        if !has_user && !is_set(&k.client_secret) && k.client_secret_secret_ref.is_none() {
            self.error(
                field(&path, "clientSecret"),
                "without token or username/password, the client-credentials grant needs clientSecret",
            );
        }
    }
}
