//! The rules of the PostgreSQL sink (the source shares the polling rules).

use super::*;

impl Rules {
    /// The rules of a PostgresSink config at `path`.
    pub(super) fn postgres_sink(&mut self, c: &PostgresSinkConfig, path: &str) {
        self.database_connection(path, &c.connection, Table::Required);
        if c.upsert_mode {
            self.identifier(path, "conflictKey", &c.conflict_key);
        }
        if c.upsert_strategy == UpsertStrategy::IfNewer && !is_set(&c.upsert_version_column) {
            self.error(
                field(path, "upsertVersionColumn"),
                "upsertStrategy: ifNewer requires upsertVersionColumn",
            );
        }
        self.optional_identifier(path, "upsertVersionColumn", &c.upsert_version_column);
        self.optional_identifier(path, "softDeleteColumn", &c.soft_delete_column);
        self.metadata_columns(path, c.raw_mode, &c.metadata_columns);
        self.batch_warning(path, "postgresql", c.batch.size, 100);
    }
}
