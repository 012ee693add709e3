//! Between the source and the sinks: the transformation chain, run on its own workers with the
//! input order restored (or inline on the source's task on a single core), and the dispatch of
//! each result to the main sink, its route sink, or the failure router.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::ack::AckToken;
use crate::classify::ErrorType;
use crate::failure::{Failure, FailureRouter};
use crate::message::Message;
use crate::stats::Stats;
use crate::supervise::{join, spawn_supervised};
use crate::telemetry::TransformerMetrics;
use crate::transform::{Derived, StepTally, Transformer};

/// Messages per unit of work handed to a parallel worker.
const CHUNK: usize = 64;

/// The channels of the main sink and of every route sink.
#[derive(Clone)]
pub(crate) struct Outputs {
    pub(crate) main: mpsc::Sender<Message>,
    pub(crate) routes: Vec<mpsc::Sender<Message>>,
}

impl Outputs {
    /// Sends a message to its route's sink (or the main sink). Err when that sink stopped.
    async fn send(&self, message: Message) -> Result<(), ()> {
        let channel = match message.record.route {
            Some(route) if route < self.routes.len() => &self.routes[route],
            _ => &self.main,
        };
        channel.send(message).await.map_err(|_| ())
    }
}

/// Applies the chain and delivers what comes out.
#[derive(Clone)]
pub(crate) struct ChainStage {
    pub(crate) transformer: Arc<dyn Transformer>,
    pub(crate) failures: FailureRouter,
    pub(crate) stats: Arc<Stats>,
    pub(crate) sink_type: String,
    pub(crate) outputs: Outputs,
    /// The steps' counters; the inline path tallies each message here (one core: the lock is
    /// never contended), the parallel workers keep a tally each.
    pub(crate) metrics: TransformerMetrics,
    pub(crate) inline_tally: Arc<Mutex<StepTally>>,
}

impl ChainStage {
    /// Runs the chain on one message and delivers the results. False when the flow stops.
    pub(crate) async fn process(&self, message: Message) -> bool {
        let Message { record, ack } = message;
        let mut derived = Vec::with_capacity(1);
        {
            let mut tally = self.inline_tally.lock().expect("tally lock");
            self.transformer.apply(record, &mut derived, &mut tally);
            self.metrics.flush(&mut tally);
        }
        self.deliver(ack, derived).await
    }

    /// Delivers the results derived from one message, which share its token.
    pub(crate) async fn deliver(&self, ack: AckToken, derived: Vec<Derived>) -> bool {
        if derived.is_empty() {
            self.stats.add_filtered(1);
        }
        let tokens = ack.split(derived.len());
        for (result, token) in derived.into_iter().zip(tokens) {
            match result {
                Ok(record) => {
                    if self
                        .outputs
                        .send(Message::new(record, token))
                        .await
                        .is_err()
                    {
                        return false;
                    }
                }
                Err(failure) => {
                    let failure = *failure;
                    // A step that fails on a message fails on its data.
                    let error_type = ErrorType::InvalidData;
                    let routed = self
                        .failures
                        .route_transform_failure(Failure {
                            message: Message::new(failure.record, token),
                            reason: failure.reason,
                            error_type,
                            stage: failure.stage,
                            original_sink: self.sink_type.clone(),
                        })
                        .await;
                    if !routed {
                        return false;
                    }
                }
            }
        }
        true
    }
}

/// Where a source's messages go.
#[derive(Clone)]
pub(crate) enum Emitter {
    /// No transformations: straight to the main sink.
    Direct(Outputs),
    /// One worker on a single core: the chain runs on the source's own task (no hand-off).
    Inline(ChainStage),
    /// Several workers: the parallel stage's input.
    Parallel(mpsc::Sender<Message>),
}

impl Emitter {
    /// Passes messages on in order, reserving channel room for many at once. Err when the
    /// flow stopped.
    pub(crate) async fn emit_all(&self, mut messages: Vec<Message>) -> Result<(), ()> {
        let channel = match self {
            Emitter::Direct(outputs) if messages.iter().all(|m| m.record.route.is_none()) => {
                &outputs.main
            }
            Emitter::Parallel(input) => input,
            _ => {
                for message in messages {
                    self.emit(message).await?;
                }
                return Ok(());
            }
        };
        while !messages.is_empty() {
            let room = messages.len().min(channel.max_capacity());
            let permits = channel.reserve_many(room).await.map_err(|_| ())?;
            for (permit, message) in permits.zip(messages.drain(..room)) {
                permit.send(message);
            }
        }
        Ok(())
    }

    /// Passes one message on. Err when the flow stopped.
    pub(crate) async fn emit(&self, message: Message) -> Result<(), ()> {
        match self {
            Emitter::Direct(outputs) => outputs.send(message).await,
            Emitter::Inline(stage) => {
                if stage.process(message).await {
                    Ok(())
                } else {
                    Err(())
                }
            }
            Emitter::Parallel(input) => input.send(message).await.map_err(|_| ()),
        }
    }
}

/// Runs the chain on `workers` tasks. Chunks are dealt to the workers in turn and collected
/// in the same turn, so results leave in input order (and acks follow it). A panicking worker
/// fails the flow (its closed channel is not mistaken for the end of the input), and every
/// worker is joined before this returns.
pub(crate) async fn run_parallel(
    mut input: mpsc::Receiver<Message>,
    workers: usize,
    stage: ChainStage,
) {
    let state = stage.failures.state();
    let mut work = Vec::with_capacity(workers);
    let mut done = Vec::with_capacity(workers);
    let mut tasks = Vec::with_capacity(workers + 1);
    for index in 0..workers {
        let (work_tx, mut work_rx) = mpsc::channel::<Vec<Message>>(2);
        let (done_tx, done_rx) = mpsc::channel::<Vec<(AckToken, Vec<Derived>)>>(2);
        let transformer = Arc::clone(&stage.transformer);
        let metrics = stage.metrics.clone();
        let name = format!("transformation worker {index}");
        tasks.push(spawn_supervised(name, &state, async move {
            let mut tally = metrics.tally();
            while let Some(chunk) = work_rx.recv().await {
                let processed: Vec<(AckToken, Vec<Derived>)> = chunk
                    .into_iter()
                    .map(|Message { record, ack }| {
                        let mut derived = Vec::with_capacity(1);
                        transformer.apply(record, &mut derived, &mut tally);
                        (ack, derived)
                    })
                    .collect();
                metrics.flush(&mut tally);
                if done_tx.send(processed).await.is_err() {
                    return;
                }
            }
        }));
        work.push(work_tx);
        done.push(done_rx);
    }
    let dispatcher = spawn_supervised("the transformation dispatcher", &state, async move {
        let mut turn = 0usize;
        while let Some(first) = input.recv().await {
            let mut chunk = Vec::with_capacity(CHUNK);
            chunk.push(first);
            while chunk.len() < CHUNK {
                match input.try_recv() {
                    Ok(message) => chunk.push(message),
                    Err(_) => break,
                }
            }
            if work[turn % work.len()].send(chunk).await.is_err() {
                return;
            }
            turn += 1;
        }
    });
    let mut turn = 0usize;
    'collect: while let Some(processed) = done[turn % workers].recv().await {
        for (ack, derived) in processed {
            if !stage.deliver(ack, derived).await {
                break 'collect;
            }
        }
        turn += 1;
    }
    // The input ended (the dispatcher is done), or the flow stops: end the dispatcher and the
    // workers (their channels close with `done` and the dispatcher's senders), then join them.
    dispatcher.abort();
    drop(done);
    tasks.push(dispatcher);
    for mut task in tasks {
        join(&mut task, &state, "a transformation task").await;
    }
}
