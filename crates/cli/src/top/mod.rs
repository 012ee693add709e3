//! `dataflow top [ADDRESS]`: a live view of a running flow, read from the `/metrics` of
//! `dataflow run --metrics-address` (or a processor): per stage the totals, the rate over the
//! last refresh and the errors; held positions, their oldest age and the last checkpoint.
//!
//! Layout: `scrape.rs` fetches and parses `/metrics`; this file turns two scrapes into rows
//! and draws them.

mod scrape;

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use scrape::{Sample, Samples};

/// Arguments of `dataflow top`.
#[derive(clap::Args)]
pub struct TopArgs {
    /// Where the flow serves its metrics (`--metrics-address` of `dataflow run`).
    #[arg(default_value = "127.0.0.1:9090")]
    address: String,
    /// Seconds between refreshes.
    #[arg(long, default_value_t = 1.0)]
    interval: f64,
    /// Print one view (after one interval, so that rates are known) and exit.
    #[arg(long)]
    once: bool,
}

/// Draws the view every interval until interrupted (or once).
pub fn top(args: TopArgs) -> anyhow::Result<ExitCode> {
    let interval = Duration::from_secs_f64(args.interval.max(0.1));
    let mut previous = (
        Instant::now(),
        scrape::fetch(&args.address).map_err(anyhow::Error::msg)?,
    );
    let clear = std::io::stdout().is_terminal() && !args.once;
    loop {
        std::thread::sleep(interval);
        let now = (
            Instant::now(),
            scrape::fetch(&args.address).map_err(anyhow::Error::msg)?,
        );
        let elapsed = now.0.duration_since(previous.0).as_secs_f64();
        let view = render(&args.address, &now.1, &previous.1, elapsed);
        if clear {
            print!("\x1b[2J\x1b[H{view}");
        } else {
            print!("{view}");
        }
        if args.once {
            return Ok(ExitCode::SUCCESS);
        }
        previous = now;
    }
}

/// One line of the table.
struct Row {
    stage: String,
    what: String,
    total: f64,
    rate: f64,
    errors: f64,
    note: String,
}

/// The view of `now`, with rates against `before` taken `elapsed` seconds earlier.
fn render(address: &str, now: &Samples, before: &Samples, elapsed: f64) -> String {
    let mut out = String::new();
    let flows: Vec<&Sample> = now
        .named("dataflow_status")
        .filter(|s| s.value == 1.0)
        .collect();
    if flows.is_empty() {
        let _ = writeln!(out, "dataflow top · {address} · no flow reports yet");
        return out;
    }
    for status in flows {
        let namespace = label(status, "namespace");
        let name = label(status, "name");
        let flow = [("namespace", namespace), ("name", name)];
        let _ = writeln!(
            out,
            "dataflow top · {namespace}/{name} · {} · {address}\n",
            label(status, "phase")
        );
        let _ = writeln!(
            out,
            "{:<8} {:<34} {:>12} {:>10} {:>8}  ",
            "STAGE", "CONNECTOR / STEP", "TOTAL", "PER SEC", "ERRORS"
        );
        for row in rows(now, before, elapsed, &flow) {
            let _ = writeln!(
                out,
                "{:<8} {:<34} {:>12} {:>10.1} {:>8}  {}",
                row.stage,
                truncate(&row.what, 34),
                row.total as u64,
                row.rate,
                row.errors as u64,
                row.note
            );
        }
        let held = now.sum("dataflow_task_active_messages", &flow) as u64;
        let oldest = now.sum("dataflow_held_oldest_age_seconds", &flow);
        let streams = now.sum("dataflow_committed_streams", &flow) as u64;
        let saved = now.sum("dataflow_checkpoint_last_save_timestamp_seconds", &flow);
        let checkpoint = if saved > 0.0 {
            let unix = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |t| t.as_secs_f64());
            format!("{:.0}s ago", (unix - saved).max(0.0))
        } else {
            "none yet".into()
        };
        let _ = writeln!(
            out,
            "\nheld positions {held} (oldest {oldest:.1}s) · committed streams {streams} · \
             last checkpoint {checkpoint}"
        );
    }
    out
}

/// The source, each step of the chain, then each sink.
fn rows(now: &Samples, before: &Samples, elapsed: f64, flow: &[(&str, &str)]) -> Vec<Row> {
    let rate = |name: &str, labels: &[(&str, &str)]| {
        let delta = now.sum(name, labels) - before.sum(name, labels);
        if elapsed > 0.0 {
            delta.max(0.0) / elapsed
        } else {
            0.0
        }
    };
    let mut rows = Vec::new();
    let of_flow = |sample: &&Sample| {
        flow.iter()
            .all(|(key, value)| sample.labels.get(*key).map(String::as_str) == Some(*value))
    };
    let connector_errors = |sample: &Sample| {
        let mut labels = flow.to_vec();
        labels.push(("role", label(sample, "role")));
        labels.push(("connector_name", label(sample, "connector_name")));
        now.sum("dataflow_connector_errors_total", &labels)
    };
    for read in now
        .named("dataflow_connector_messages_read_total")
        .filter(of_flow)
    {
        rows.push(Row {
            stage: "source".into(),
            what: connector(read),
            total: read.value,
            rate: rate(&read.name, &pairs(read)),
            errors: connector_errors(read),
            note: String::new(),
        });
    }
    let mut steps: Vec<&Sample> = now
        .named("dataflow_transformer_messages_in_total")
        .filter(of_flow)
        .collect();
    steps.sort_by_key(|s| label(s, "transformer_index").parse::<usize>().unwrap_or(0));
    for step in steps {
        let labels = pairs(step);
        rows.push(Row {
            stage: "chain".into(),
            what: format!(
                "{} {}",
                label(step, "transformer_index"),
                label(step, "transformer_type")
            ),
            total: step.value,
            rate: rate(&step.name, &labels),
            errors: now.sum("dataflow_transformer_errors_total", &labels),
            note: format!(
                "out {}",
                now.sum("dataflow_transformer_messages_out_total", &labels) as u64
            ),
        });
    }
    let mut sinks: Vec<&Sample> = now
        .named("dataflow_connector_messages_written_total")
        .filter(of_flow)
        .collect();
    let order = |role: &str| {
        ["sink", "route", "error_sink"]
            .iter()
            .position(|r| *r == role)
    };
    sinks.sort_by_key(|s| (order(label(s, "role")), label(s, "route").to_string()));
    for written in sinks {
        let role = label(written, "role");
        let mut connection = flow.to_vec();
        connection.push(("role", role));
        connection.push(("connector_name", label(written, "connector_name")));
        let connected = now.sum("dataflow_connector_connection_status", &connection) > 0.0;
        let route = label(written, "route");
        rows.push(Row {
            stage: match role {
                "error_sink" => "errors".into(),
                other => other.to_string(),
            },
            what: connector(written),
            total: written.value,
            rate: rate(&written.name, &pairs(written)),
            errors: connector_errors(written),
            note: match (role, connected) {
                ("route", true) => format!("route {route}"),
                (_, true) => String::new(),
                (_, false) => "not connected".into(),
            },
        });
    }
    rows
}

fn label<'a>(sample: &'a Sample, key: &str) -> &'a str {
    sample.labels.get(key).map_or("", String::as_str)
}

fn pairs(sample: &Sample) -> Vec<(&str, &str)> {
    sample
        .labels
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect()
}

fn connector(sample: &Sample) -> String {
    format!(
        "{} {}",
        label(sample, "connector_type"),
        label(sample, "connector_name")
    )
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let kept: String = text.chars().take(width - 1).collect();
        format!("{kept}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = r#"dataflow_status{namespace="shop",name="orders",phase="Running"} 1
dataflow_connector_messages_read_total{namespace="shop",name="orders",connector_type="file",connector_name="in.jsonl",role="source"} 100
dataflow_connector_messages_written_total{namespace="shop",name="orders",connector_type="postgresql",connector_name="s.items",role="sink",route="default"} 90
dataflow_connector_connection_status{namespace="shop",name="orders",connector_type="postgresql",connector_name="s.items",role="sink"} 1
"#;

    #[test]
    fn rates_come_from_two_scrapes() {
        let now = BEFORE.replace("} 100", "} 300").replace("} 90", "} 250");
        let view = render(
            "127.0.0.1:9090",
            &scrape::parse(&now),
            &scrape::parse(BEFORE),
            2.0,
        );
        assert!(view.contains("shop/orders · Running"), "{view}");
        assert!(
            view.lines()
                .any(|l| l.starts_with("source") && l.contains("300") && l.contains("100.0")),
            "{view}"
        );
        assert!(
            view.lines()
                .any(|l| l.starts_with("sink") && l.contains("250") && l.contains("80.0")),
            "{view}"
        );
    }
}
