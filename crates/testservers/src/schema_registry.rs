//! A test Confluent Schema Registry speaking the subset of its REST protocol the connector
//! uses: `GET /schemas/ids/{id}`, `POST /subjects/{subject}/versions`,
//! `GET /subjects/{subject}/versions/latest`, optional basic auth, Confluent error bodies.
//! One thread, one request per connection (`Connection: close`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// What the registry holds: schemas by id and subjects' versions (schema ids).
#[derive(Default)]
pub struct Registry {
    /// Schema text by id.
    pub schemas: BTreeMap<u32, String>,
    /// Schema ids by subject, oldest first.
    pub subjects: BTreeMap<String, Vec<u32>>,
    /// Paths asked for, in order.
    pub requests: Vec<String>,
}

/// A running test registry.
pub struct SchemaRegistryServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its state, shared with the serving thread.
    pub state: Arc<Mutex<Registry>>,
}

impl SchemaRegistryServer {
    /// Starts serving on a free loopback port; `credentials` (user, password) turn on basic auth.
    pub fn start(credentials: Option<(&str, &str)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(Registry::default()));
        let expected = credentials.map(|(user, password)| {
            use base64::Engine;
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )
        });
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = serve(stream, &shared, expected.as_deref());
            }
        });
        SchemaRegistryServer { url, state }
    }

    /// Registers `schema` under `subject` as the registry would, returning its id.
    pub fn register(&self, subject: &str, schema: &str) -> u32 {
        register(&mut self.state.lock().unwrap(), subject, schema)
    }
}

fn register(registry: &mut Registry, subject: &str, schema: &str) -> u32 {
    let id = match registry.schemas.iter().find(|(_, s)| s.as_str() == schema) {
        Some((id, _)) => *id,
        None => {
            let id = registry.schemas.keys().last().copied().unwrap_or(0) + 1;
            registry.schemas.insert(id, schema.to_string());
            id
        }
    };
    let versions = registry.subjects.entry(subject.to_string()).or_default();
    if !versions.contains(&id) {
        versions.push(id);
    }
    id
}

fn serve(
    stream: TcpStream,
    state: &Mutex<Registry>,
    expected_auth: Option<&str>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut registry = state.lock().unwrap();
    registry.requests.push(format!("{method} {path}"));
    let (status, answer) = if expected_auth.is_some()
        && headers.get("authorization").map(String::as_str) != expected_auth
    {
        (401, json!({"error_code": 401, "message": "Unauthorized"}))
    } else {
        route(&mut registry, method, path, &body)
    };
    drop(registry);
    let text = answer.to_string();
    let reason = match status {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        _ => "Unprocessable Entity",
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )?;
    stream.flush()
}

fn route(registry: &mut Registry, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("GET", ["schemas", "ids", id]) => match id
            .parse::<u32>()
            .ok()
            .and_then(|id| registry.schemas.get(&id))
        {
            Some(schema) => (200, json!({"schema": schema})),
            None => (
                404,
                json!({"error_code": 40403, "message": format!("Schema {id} not found")}),
            ),
        },
        ("POST", ["subjects", subject, "versions"]) => {
            let schema = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v["schema"].as_str().map(str::to_string));
            match schema {
                Some(schema) => (200, json!({"id": register(registry, subject, &schema)})),
                None => (
                    422,
                    json!({"error_code": 42201, "message": "Input schema is an invalid Avro schema"}),
                ),
            }
        }
        ("GET", ["subjects", subject, "versions", "latest"]) => {
            match registry.subjects.get(*subject).and_then(|v| v.last()) {
                Some(id) => {
                    let version = registry.subjects[*subject].len();
                    (
                        200,
                        json!({"subject": subject, "version": version, "id": id, "schema": registry.schemas[id]}),
                    )
                }
                None => (
                    404,
                    json!({"error_code": 40401, "message": format!("Subject '{subject}' not found.")}),
                ),
            }
        }
        _ => (
            404,
            json!({"error_code": 404, "message": "HTTP 404 Not Found"}),
        ),
    }
}
