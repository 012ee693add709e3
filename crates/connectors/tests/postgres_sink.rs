//! The PostgreSQL sink against the real server on 127.0.0.1:5432 (scripts/test-servers.sh
//! starts it). Each test works in a schema of its own.

#![cfg(feature = "postgresql")]

use dataflow_connectors::postgres::PostgresSink;
use dataflow_core::{AckToken, Message, Payload, Record, Rejection, Sink};
use dataflow_spec::{DatabaseConnection, PostgresSinkConfig, UpsertStrategy};
use serde_json::{Value, json};
use tokio_postgres::{Client, NoTls};

fn connection_string() -> String {
    std::env::var("DATAFLOW_TEST_POSTGRES")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=root dbname=test".into())
}

struct Schema {
    client: Client,
    name: String,
}

impl Schema {
    async fn new() -> Schema {
        let (client, connection) = tokio_postgres::connect(&connection_string(), NoTls)
            .await
            .expect("PostgreSQL on 127.0.0.1:5432");
        tokio::spawn(connection);
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .unwrap();
        Schema { client, name }
    }

    fn table(&self, table: &str) -> String {
        format!("{}.{table}", self.name)
    }

    fn config(&self, table: &str) -> PostgresSinkConfig {
        PostgresSinkConfig {
            connection: DatabaseConnection {
                connection_string: Some(connection_string()),
                table: Some(self.table(table)),
                ..Default::default()
            },
            batch: dataflow_spec::Batch {
                size: 100,
                flush_interval_seconds: 1,
            },
            conflict_key: "id".into(),
            ..Default::default()
        }
    }

    async fn rows(&self, sql: &str) -> Vec<Value> {
        let sql = sql.replace("$schema", &self.name);
        let rows = self
            .client
            .query(&format!("SELECT to_jsonb(r) FROM ({sql}) r"), &[])
            .await
            .unwrap();
        rows.iter().map(|row| row.get::<_, Value>(0)).collect()
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let name = self.name.clone();
        let connection = connection_string();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok((client, conn)) = tokio_postgres::connect(&connection, NoTls).await {
                    tokio::spawn(conn);
                    let _ = client
                        .batch_execute(&format!("DROP SCHEMA {name} CASCADE"))
                        .await;
                }
            });
        })
        .join()
        .unwrap();
    }
}

fn batch(payloads: &[Value]) -> Vec<Message> {
    payloads
        .iter()
        .map(|p| Message::new(Record::json(p.clone()), AckToken::none()))
        .collect()
}

async fn write(config: PostgresSinkConfig, payloads: &[Value]) -> Vec<Rejection> {
    let mut sink = PostgresSink::new(config).unwrap();
    sink.connect().await.unwrap();
    sink.write(&batch(payloads)).await.unwrap()
}

#[tokio::test]
async fn binary_copy_of_every_common_type() {
    let schema = Schema::new().await;
    schema
        .client
        .batch_execute(&format!(
            "CREATE TABLE {} (id bigint PRIMARY KEY, flag boolean, small smallint, n integer, price numeric(12,3), ratio double precision, \
             label varchar(20), doc jsonb, raw json, ref uuid, at timestamptz, local timestamp, day date, blob bytea, span interval)",
            schema.table("types")
        ))
        .await
        .unwrap();
    let rejections = write(
        schema.config("types"),
        &[
            json!({"id": 1, "flag": true, "small": 7, "n": "42", "price": 1234.5, "ratio": 0.25, "label": "hello", "doc": {"a": [1, 2]}, "raw": [true],
                   "ref": "6f1c8d4e-2d4b-4c3a-9f0e-0d2a4b6c8e10", "at": "2024-01-15T12:00:00+03:00", "local": "2024-01-15 09:00:00", "day": "2024-02-29", "blob": "aGVsbG8=", "span": "1 day"}),
            json!({"id": 2, "flag": null, "price": "-0.001", "label": ""}),
        ],
    )
    .await;
    assert!(rejections.is_empty(), "{rejections:?}");
    let rows = schema
        .rows("SELECT id, flag, small, n, price::text AS price, ratio, label, doc, raw, ref::text AS ref, at AT TIME ZONE 'UTC' AS at, local, day, encode(blob, 'escape') AS blob, span::text AS span FROM $schema.types ORDER BY id")
        .await;
    assert_eq!(
        rows[0],
        json!({"id": 1, "flag": true, "small": 7, "n": 42, "price": "1234.500", "ratio": 0.25, "label": "hello", "doc": {"a": [1, 2]}, "raw": [true],
               "ref": "6f1c8d4e-2d4b-4c3a-9f0e-0d2a4b6c8e10", "at": "2024-01-15T09:00:00", "local": "2024-01-15T09:00:00", "day": "2024-02-29", "blob": "hello", "span": "1 day"})
    );
    assert_eq!(rows[1]["price"], "-0.001");
    assert_eq!(rows[1]["label"], "");
    assert_eq!(rows[1]["flag"], Value::Null);
}

#[tokio::test]
async fn bad_values_and_constraint_violations_reject_exactly_the_bad_rows() {
    let schema = Schema::new().await;
    schema
        .client
        .batch_execute(&format!("CREATE TABLE {} (id bigint PRIMARY KEY, qty integer CHECK (qty >= 0), code varchar(3))", schema.table("items")))
        .await
        .unwrap();
    let payloads: Vec<Value> = (0..50)
        .map(|i| match i {
            7 => json!({"id": i, "qty": -1, "code": "ok"}), // CHECK violation (SQLSTATE 23514)
            19 => json!({"id": 3, "qty": 1, "code": "ok"}), // key present: skipped as written (W1)
            23 => json!({"id": i, "qty": "lots", "code": "x"}), // not an integer: rejected before sending
            31 => json!({"id": i, "qty": 1, "code": "toolong"}), // too long (22001)
            _ => json!({"id": i, "qty": i, "code": "ok"}),
        })
        .collect();
    let rejections = write(schema.config("items"), &payloads).await;
    let mut indexes: Vec<usize> = rejections.iter().map(|r| r.index).collect();
    indexes.sort();
    assert_eq!(indexes, vec![7, 23, 31], "{rejections:#?}");
    let reason = |i: usize| {
        rejections
            .iter()
            .find(|r| r.index == i)
            .unwrap()
            .reason
            .clone()
    };
    assert!(reason(7).contains("SQLSTATE 23514"), "{}", reason(7));
    assert_eq!(
        reason(23),
        "column \"qty\" (integer): \"lots\" is not an integer"
    );
    assert!(reason(31).contains("SQLSTATE 22001"), "{}", reason(31));
    assert_eq!(
        rejections.iter().find(|r| r.index == 7).unwrap().error_type,
        dataflow_core::ErrorType::ConstraintViolation
    );
    let count = schema.rows("SELECT count(*) AS n FROM $schema.items").await;
    assert_eq!(count[0]["n"], 46);
    let three = schema
        .rows("SELECT qty FROM $schema.items WHERE id = 3")
        .await;
    assert_eq!(
        three,
        vec![json!({"qty": 3})],
        "the first row with key 3 stays"
    );
}

#[tokio::test]
async fn a_replayed_batch_in_plain_mode_is_written_once_without_rejections() {
    // W1: at-least-once replays a batch after a crash between COMMIT and the checkpoint; in
    // plain mode every already-written row came back as a 23505 rejection, and without an error
    // sink the flow stopped again after every restart.
    let schema = Schema::new().await;
    let mut config = schema.config("items");
    config.auto_create_table = true;
    let payloads: Vec<Value> = (0..20)
        .map(|i| json!({"id": i, "v": format!("row {i}")}))
        .collect();
    let mut sink = PostgresSink::new(config).unwrap();
    sink.connect().await.unwrap();
    assert!(
        sink.write(&batch(&payloads[..12]))
            .await
            .unwrap()
            .is_empty()
    );
    // The replay overlaps what was written and goes further.
    let rejections = sink.write(&batch(&payloads)).await.unwrap();
    assert!(rejections.is_empty(), "{rejections:?}");
    let rows = schema
        .rows("SELECT id, v FROM $schema.items ORDER BY id")
        .await;
    assert_eq!(rows, payloads);
    // Bad data in a replayed batch is still found and rejected exactly: the skip of present
    // keys and the bisection work together.
    schema
        .client
        .batch_execute(&format!(
            "ALTER TABLE {} ADD CONSTRAINT v_ok CHECK (v <> 'bad')",
            schema.table("items")
        ))
        .await
        .unwrap();
    let mut again = payloads.clone();
    again[5] = json!({"id": 100, "v": {"not": "text"}, "extra": 1});
    again[6] = json!({"id": 101, "v": 1});
    again[7] = json!({"id": 102, "v": "bad"});
    let rejections = sink.write(&batch(&again)).await.unwrap();
    let rejected: Vec<usize> = rejections.iter().map(|r| r.index).collect();
    assert_eq!(rejected, vec![7], "{rejections:?}");
    assert!(
        rejections[0].reason.contains("SQLSTATE 23514"),
        "{rejections:?}"
    );
    let count = schema.rows("SELECT count(*) AS n FROM $schema.items").await;
    assert_eq!(count[0]["n"], 22);
}

#[tokio::test]
async fn field_names_postgresql_refuses_reject_only_their_messages() {
    // W2/P1/A6: with autoCreateTable one such field failed the whole batch as fatal (and a
    // name over 63 bytes panicked on the truncated column).
    let schema = Schema::new().await;
    let mut config = schema.config("named");
    config.auto_create_table = true;
    let long = "k".repeat(70);
    let payloads = vec![
        json!({"id": 1, "a": 1}),
        json!({"id": 2, "": "empty"}),
        json!({"id": 3, "a\u{0}b": "nul"}),
        json!({"id": 4, "xmin": "system"}),
        json!({"id": 5, long.clone(): "long"}),
        json!({"id": 6, "a": 6, "b": "new column"}),
    ];
    let rejections = write(config, &payloads).await;
    let mut indexes: Vec<usize> = rejections.iter().map(|r| r.index).collect();
    indexes.sort();
    assert_eq!(indexes, vec![1, 2, 3, 4], "{rejections:#?}");
    for rejection in &rejections {
        assert!(
            rejection.reason.contains("cannot be a column"),
            "{}",
            rejection.reason
        );
    }
    let rows = schema
        .rows("SELECT id, a, b FROM $schema.named ORDER BY id")
        .await;
    assert_eq!(
        rows,
        vec![
            json!({"id": 1, "a": 1, "b": null}),
            json!({"id": 6, "a": 6, "b": "new column"})
        ]
    );
}

#[tokio::test]
async fn numeric_strings_with_huge_exponents_are_rejected() {
    // P2: "1e2147483647" panicked (i32 overflow); "1e1000000000" built a 1 GB string.
    let schema = Schema::new().await;
    schema
        .client
        .batch_execute(&format!(
            "CREATE TABLE {} (id bigint, x numeric, r real)",
            schema.table("n")
        ))
        .await
        .unwrap();
    let rejections = write(
        schema.config("n"),
        &[
            json!({"id": 1, "x": "1e2147483647"}),
            json!({"id": 2, "x": "1e1000000000"}),
            json!({"id": 3, "x": "12.5e2"}),
            json!({"id": 4, "r": 1e39}),
        ],
    )
    .await;
    let mut indexes: Vec<usize> = rejections.iter().map(|r| r.index).collect();
    indexes.sort();
    assert_eq!(indexes, vec![0, 1, 3], "{rejections:#?}");
    let rows = schema.rows("SELECT id, x::text AS x FROM $schema.n").await;
    assert_eq!(rows, vec![json!({"id": 3, "x": "1250"})]);
}

#[tokio::test]
async fn auto_create_infers_types_and_adds_columns() {
    let schema = Schema::new().await;
    let mut config = schema.config("events");
    config.auto_create_table = true;
    let mut sink = PostgresSink::new(config).unwrap();
    sink.connect().await.unwrap();
    let first = sink
        .write(&batch(&[
            json!({"id": 1, "name": "a", "score": 1.5, "ok": true, "tags": ["x"]}),
        ]))
        .await
        .unwrap();
    assert!(first.is_empty(), "{first:?}");
    let later = sink
        .write(&batch(&[json!({"id": 2, "name": "b", "country": "DE"})]))
        .await
        .unwrap();
    assert!(later.is_empty(), "{later:?}");
    let columns = schema
        .rows(&format!("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = '{}' AND table_name = 'events' ORDER BY ordinal_position", schema.name))
        .await;
    let described: Vec<String> = columns
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["column_name"].as_str().unwrap(),
                c["data_type"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        described,
        [
            "id bigint",
            "name text",
            "score numeric",
            "ok boolean",
            "tags jsonb",
            "created_at timestamp without time zone",
            "updated_at timestamp without time zone",
            "country text"
        ]
    );
    let rows = schema.rows("SELECT id, name, country, created_at IS NOT NULL AS stamped FROM $schema.events ORDER BY id").await;
    assert_eq!(
        rows,
        vec![
            json!({"id": 1, "name": "a", "country": null, "stamped": true}),
            json!({"id": 2, "name": "b", "country": "DE", "stamped": true})
        ]
    );
    let keys = schema.rows(&format!("SELECT a.attname AS key FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = '{}.events'::regclass AND i.indisprimary", schema.name)).await;
    assert_eq!(keys, vec![json!({"key": "id"})]);
}

#[tokio::test]
async fn unknown_columns_without_auto_create_are_rejected_by_name() {
    let schema = Schema::new().await;
    schema
        .client
        .batch_execute(&format!(
            "CREATE TABLE {} (id bigint, name text)",
            schema.table("people")
        ))
        .await
        .unwrap();
    let rejections = write(
        schema.config("people"),
        &[
            json!({"id": 1, "name": "a"}),
            json!({"id": 2, "nmae": "b"}),
            json!([1]),
        ],
    )
    .await;
    assert_eq!(rejections.len(), 2, "{rejections:?}");
    assert!(
        rejections
            .iter()
            .any(|r| r.index == 1 && r.reason.contains("has no column \"nmae\"")),
        "{rejections:?}"
    );
    assert!(
        rejections
            .iter()
            .any(|r| r.index == 2 && r.reason.contains("not a JSON object")),
        "{rejections:?}"
    );
    assert_eq!(
        schema.rows("SELECT id, name FROM $schema.people").await,
        vec![json!({"id": 1, "name": "a"})]
    );

    let mut missing = schema.config("nope");
    missing.auto_create_table = false;
    let error = PostgresSink::new(missing)
        .unwrap()
        .connect()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("does not exist; create it or set autoCreateTable: true"),
        "{error}"
    );
}

#[tokio::test]
async fn upserts_always_and_if_newer() {
    let schema = Schema::new().await;
    schema
        .client
        .batch_execute(&format!(
            "CREATE TABLE {} (id bigint PRIMARY KEY, name text, version integer)",
            schema.table("stock")
        ))
        .await
        .unwrap();
    let mut config = schema.config("stock");
    config.upsert_mode = true;
    let rejections = write(
        config.clone(),
        &[
            json!({"id": 1, "name": "a", "version": 1}),
            json!({"id": 1, "name": "b", "version": 2}),
            json!({"id": 2, "name": "c", "version": 1}),
        ],
    )
    .await;
    assert!(rejections.is_empty(), "{rejections:?}");
    assert_eq!(
        schema
            .rows("SELECT id, name, version FROM $schema.stock ORDER BY id")
            .await,
        vec![
            json!({"id": 1, "name": "b", "version": 2}),
            json!({"id": 2, "name": "c", "version": 1})
        ],
        "the last copy of a key in a batch wins"
    );
    config.upsert_strategy = UpsertStrategy::IfNewer;
    config.upsert_version_column = Some("version".into());
    let rejections = write(
        config.clone(),
        &[
            json!({"id": 1, "name": "older", "version": 1}),
            json!({"id": 2, "name": "newer", "version": 5}),
            json!({"name": "no key"}),
        ],
    )
    .await;
    assert_eq!(rejections.len(), 1);
    assert!(
        rejections[0].reason.contains("conflict key"),
        "{rejections:?}"
    );
    assert_eq!(
        schema
            .rows("SELECT id, name, version FROM $schema.stock ORDER BY id")
            .await,
        vec![
            json!({"id": 1, "name": "b", "version": 2}),
            json!({"id": 2, "name": "newer", "version": 5})
        ],
        "ifNewer ignores an older version"
    );
}

#[tokio::test]
async fn soft_delete_marks_the_row() {
    let schema = Schema::new().await;
    schema
        .client
        .batch_execute(&format!(
            "CREATE TABLE {} (id bigint PRIMARY KEY, name text, deleted_at timestamp)",
            schema.table("users")
        ))
        .await
        .unwrap();
    let mut config = schema.config("users");
    config.upsert_mode = true;
    config.soft_delete_column = Some("deleted_at".into());
    write(
        config.clone(),
        &[json!({"id": 1, "name": "a"}), json!({"id": 2, "name": "b"})],
    )
    .await;
    let mut delete = Record::json(json!({"id": 2}));
    delete.metadata.insert("operation".into(), json!("delete"));
    delete.metadata.insert("id".into(), json!(2));
    let mut sink = PostgresSink::new(config).unwrap();
    sink.connect().await.unwrap();
    assert!(
        sink.write(&[Message::new(delete, AckToken::none())])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        schema
            .rows("SELECT id, deleted_at IS NOT NULL AS deleted FROM $schema.users ORDER BY id")
            .await,
        vec![
            json!({"id": 1, "deleted": false}),
            json!({"id": 2, "deleted": true})
        ]
    );
}

#[tokio::test]
async fn raw_mode_round_trips_payload_and_metadata() {
    let schema = Schema::new().await;
    let mut config = schema.config("raw");
    config.raw_mode = true;
    config.metadata_columns.flatten_metadata_columns = true;
    config.metadata_columns.flatten_metadata_columns_prefix = Some("meta_".into());
    config.auto_create_table = true;
    let mut record = Record::json(json!({"any": ["json", 1]}));
    record.metadata.insert("topic".into(), json!("orders"));
    let wrapped = Record::json(json!({"value": "text", "_metadata": {"topic": "t2"}}));
    let mut scalar = Record::json(json!(5));
    scalar.payload = Payload::Json(json!(5));
    let mut sink = PostgresSink::new(config).unwrap();
    sink.connect().await.unwrap();
    let rejections = sink
        .write(&[
            Message::new(record, AckToken::none()),
            Message::new(wrapped, AckToken::none()),
            Message::new(scalar, AckToken::none()),
        ])
        .await
        .unwrap();
    assert!(rejections.is_empty(), "{rejections:?}");
    let rows = schema
        .rows("SELECT data, _metadata, meta_topic FROM $schema.raw ORDER BY id")
        .await;
    assert_eq!(
        rows[0],
        json!({"data": {"any": ["json", 1]}, "_metadata": {"topic": "orders"}, "meta_topic": "orders"})
    );
    assert_eq!(
        rows[1],
        json!({"data": "text", "_metadata": {"topic": "t2"}, "meta_topic": "t2"})
    );
    assert_eq!(rows[2]["data"], 5);
    let index = schema.rows(&format!("SELECT indexdef FROM pg_indexes WHERE schemaname = '{}' AND tablename = 'raw' AND indexdef LIKE '%gin%'", schema.name)).await;
    assert_eq!(index.len(), 1, "GIN index on data");
}

/// A TCP relay to the test PostgreSQL that can cut every connection the moment the client
/// next sends something (a write on a session the server side lost).
struct Relay {
    port: u16,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Relay {
    async fn start() -> Relay {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let relay_cut = std::sync::Arc::clone(&cut);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = tokio::net::TcpStream::connect("127.0.0.1:5432")
                    .await
                    .unwrap();
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let cut = std::sync::Arc::clone(&relay_cut);
                tokio::spawn(async move {
                    let mut buffer = vec![0u8; 64 * 1024];
                    loop {
                        let read = match client_read.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(read) => read,
                        };
                        if cut.load(Ordering::SeqCst) {
                            return; // drops both halves toward the server: the session is gone
                        }
                        if server_write.write_all(&buffer[..read]).await.is_err() {
                            return;
                        }
                    }
                });
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                });
            }
        });
        Relay { port, cut }
    }
}

#[tokio::test]
async fn a_lost_connection_is_transient_and_the_retry_reconnects_without_duplicates() {
    use std::sync::atomic::Ordering;
    let schema = Schema::new().await;
    schema
        .client
        .batch_execute(&format!(
            "CREATE TABLE {} (id bigint PRIMARY KEY, v text)",
            schema.table("r")
        ))
        .await
        .unwrap();
    let relay = Relay::start().await;
    let mut config = schema.config("r");
    config.connection.connection_string = Some(format!(
        "host=127.0.0.1 port={} user=root dbname=test sslmode=disable",
        relay.port
    ));
    let mut sink = PostgresSink::new(config).unwrap();
    sink.connect().await.unwrap();
    assert!(
        sink.write(&batch(&[json!({"id": 1, "v": "a"})]))
            .await
            .unwrap()
            .is_empty()
    );
    // The session is lost while the sink does not know it yet: the write must fail as
    // transient (the engine then retries the same batch), never as bad data or fatal.
    relay.cut.store(true, Ordering::SeqCst);
    let rows = batch(&[json!({"id": 2, "v": "b"}), json!({"id": 3, "v": "c"})]);
    match sink.write(&rows).await {
        Err(dataflow_core::SinkError::Transient(reason)) => {
            // The kind is decided by the connector, not guessed from the text.
            assert_eq!(
                reason.kind,
                dataflow_core::ErrorType::ConnectionError,
                "{reason}"
            );
        }
        other => panic!("a lost connection must be a transient error, got {other:?}"),
    }
    relay.cut.store(false, Ordering::SeqCst);
    assert!(
        sink.write(&rows).await.unwrap().is_empty(),
        "the retry reconnects"
    );
    assert_eq!(
        schema.rows("SELECT id, v FROM $schema.r ORDER BY id").await,
        vec![
            json!({"id": 1, "v": "a"}),
            json!({"id": 2, "v": "b"}),
            json!({"id": 3, "v": "c"})
        ]
    );
}
