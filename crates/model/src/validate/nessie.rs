//! The rules of the Nessie source, sink and connection.

use super::*;

impl Rules {
    /// The rules of a NessieSource config at `path`.
    pub(super) fn nessie_source(&mut self, c: &NessieSourceConfig, path: &str) {
        self.nessie_connection(path, &c.connection);
        if let Some(id) = &c.start_snapshot_id
            && id.parse::<u64>().is_err()
        {
            self.error(
                field(path, "startSnapshotID"),
                format!("{id:?} is not an unsigned integer snapshot id"),
            );
        }
        if c.incremental_by_snapshot && is_set(&c.query) {
            self.error(
                field(path, "query"),
                "query cannot be combined with incrementalBySnapshot",
            );
        }
        if c.poll_interval == 0 {
            self.error(
                field(path, "pollInterval"),
                "pollInterval must be at least 1 second",
            );
        }
    }

    /// The rules of a NessieSink config at `path`.
    pub(super) fn nessie_sink(&mut self, c: &NessieSinkConfig, path: &str) {
        self.nessie_connection(path, &c.connection);
        if c.access_key_secret_ref.is_some() != c.secret_access_key_secret_ref.is_some() {
            self.error(
                field(path, "accessKeySecretRef"),
                "accessKeySecretRef and secretAccessKeySecretRef must be set together",
            );
        }
        self.metadata_columns(path, c.raw_mode, &c.metadata_columns);
        self.batch_warning(path, "nessie", c.batch.size, 100);
    }

    pub(super) fn nessie_connection(&mut self, path: &str, c: &NessieConnection) {
        self.required(path, "baseURL", &c.base_url, &c.base_url_secret_ref);
        self.required(path, "namespace", &c.namespace, &c.namespace_secret_ref);
        self.required(path, "table", &c.table, &c.table_secret_ref);
        self.required_plain(path, "branch", &c.branch);
        let has_token = is_set(&c.bearer_token) || c.token_secret_ref.is_some();
        match c.authentication_type {
            NessieAuthenticationType::Bearer if !has_token => self.error(
                field(path, "bearerToken"),
                "authenticationType BEARER needs bearerToken or tokenSecretRef",
            ),
            NessieAuthenticationType::Basic => match &c.basic_auth {
                Some(b) => {
                    let basic_path = field(path, "basicAuth");
                    self.required(&basic_path, "username", &b.username, &b.username_secret_ref);
                    self.required(&basic_path, "password", &b.password, &b.password_secret_ref);
                }
                None => self.error(
                    field(path, "basicAuth"),
                    "authenticationType BASIC needs basicAuth",
                ),
            },
            _ => {}
        }
    }
}
