//! `dataflow test`: runs only the transformation chain on sample messages and shows what
//! becomes of each (the sink or route it would take, or why it was dropped), without servers.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use dataflow_core::{Payload, Record};
use dataflow_transform::Fate;
use serde_json::Value;

use crate::files::{chain_of, load, single_flow};

/// Arguments of `dataflow test`.
#[derive(clap::Args)]
pub struct TestArgs {
    /// Manifest holding the DataFlow.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Sample messages, one JSON value per line (`-` for standard input).
    #[arg(long)]
    input: PathBuf,
    /// Each input line is `{"payload": …, "metadata": {…}}` (to test metadata and headers).
    #[arg(long)]
    envelope: bool,
}

/// Prints the fate of every sample message; fails if a line is not JSON.
pub fn test(args: TestArgs) -> anyhow::Result<ExitCode> {
    let manifests = load(&args.files)?;
    let flow = single_flow(&manifests)?;
    let chain = chain_of(&flow)?;
    let routes: Vec<String> = flow
        .spec
        .routes()
        .iter()
        .enumerate()
        .map(|(index, route)| {
            format!(
                "route {index} ({} → {})",
                route.condition,
                route.sink.type_name()
            )
        })
        .collect();
    let main = format!("main ({})", flow.spec.sink.type_name());
    let reader: Box<dyn BufRead> = if args.input.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(&args.input)
                .with_context(|| format!("opening {}", args.input.display()))?,
        ))
    };
    let mut failed = false;
    for (number, line) in reader.lines().enumerate() {
        let line = line?;
        let number = number + 1;
        if line.trim().is_empty() {
            continue;
        }
        let record = match parse_line(&line, args.envelope) {
            Ok(record) => record,
            Err(reason) => {
                println!("#{number} ✗ not a sample message: {reason}");
                failed = true;
                continue;
            }
        };
        let mut fates = Vec::new();
        chain.run(record, &mut fates);
        for fate in fates {
            match fate {
                Fate::Out(record) => {
                    let target = record.route.and_then(|r| routes.get(r)).unwrap_or(&main);
                    println!("#{number} → {target}: {}", show(&record.payload));
                }
                Fate::Dropped { step, kind } => {
                    println!("#{number} ✗ dropped by step {step} ({kind})")
                }
                Fate::Failed(failure) => {
                    println!(
                        "#{number} ✗ {} failed: {} (to the error sink; skipped when there is none)",
                        failure.stage, failure.reason
                    )
                }
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn parse_line(line: &str, envelope: bool) -> Result<Record, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not valid JSON: {e}"))?;
    if !envelope {
        return Ok(Record::json(value));
    }
    let Value::Object(mut object) = value else {
        return Err("with --envelope each line is {\"payload\": …, \"metadata\": {…}}".into());
    };
    let mut record = Record::json(object.remove("payload").unwrap_or(Value::Null));
    match object.remove("metadata") {
        Some(Value::Object(metadata)) => record.metadata = metadata.into(),
        None => {}
        Some(_) => return Err("metadata must be an object".into()),
    }
    Ok(record)
}

fn show(payload: &Payload) -> String {
    match payload {
        Payload::Json(value) => value.to_string(),
        Payload::JsonText(text) => String::from_utf8_lossy(text).into_owned(),
        Payload::Bytes(bytes) => format!("(bytes) {}", String::from_utf8_lossy(bytes)),
    }
}
