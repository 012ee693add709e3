//! Reading the endpoints of `--metrics-address`: a port to serve on, a plain GET, and the
//! samples of `/metrics` through a Prometheus text parser.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET `path`: the status code and the body (`None` while nothing listens).
pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").as_bytes())
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

/// The samples of a scrape, by name and labels (the parser splits label values at `=` and
/// `,`: the route condition of the test has neither).
pub struct Samples(Vec<prometheus_parse::Sample>);

impl Samples {
    pub fn scrape(port: u16) -> Samples {
        let (status, body) = get(port, "/metrics").expect("/metrics answers");
        assert_eq!(status, 200);
        let lines = body.lines().map(|line| Ok(line.to_string()));
        Samples(prometheus_parse::Scrape::parse(lines).unwrap().samples)
    }

    /// The value of the one sample named `name` whose labels include `labels`, if there is one.
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found = self.matching(name, labels);
        (found.len() == 1).then(|| found[0])
    }

    /// The value of the one sample named `name` whose labels include `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found = self.matching(name, labels);
        assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
        found[0]
    }

    fn matching(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        let found: Vec<f64> = self
            .0
            .iter()
            .filter(|sample| sample.metric == name)
            .filter(|sample| {
                labels
                    .iter()
                    .all(|(key, value)| sample.labels.get(key) == Some(*value))
            })
            .map(|sample| match sample.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .collect();
        found
    }

    pub fn labels_of(&self, name: &str) -> Vec<HashMap<String, String>> {
        self.0
            .iter()
            .filter(|sample| sample.metric == name)
            .map(|sample| (*sample.labels).clone())
            .collect()
    }
}
