//! The rules of the ClickHouse sink (the source shares the polling rules).

use super::*;

impl Rules {
    /// The rules of a ClickhouseSink config at `path`.
    pub(super) fn clickhouse_sink(&mut self, c: &ClickhouseSinkConfig, path: &str) {
        self.database_connection(path, &c.connection, Table::Required);
        if c.upsert_mode {
            self.conflict_key(path, &c.conflict_key);
            if c.table_engine == Some(TableEngine::MergeTree) {
                self.error(
                    field(path, "tableEngine"),
                    "upsertMode needs tableEngine ReplacingMergeTree (MergeTree keeps duplicates)",
                );
            }
        }
        self.optional_identifier(path, "replacingVersionColumn", &c.replacing_version_column);
        self.metadata_columns(path, c.raw_mode, &c.metadata_columns);
        self.batch_warning(path, "clickhouse", c.batch.size, 100);
    }
}
