//! Task supervision: a panic in any task of a flow becomes the flow's fatal error, naming the
//! task and the panic, instead of a closed channel that looks like a normal end.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::task::JoinHandle;

use crate::failure::FlowState;

/// Runs `task`; a panic fails the flow as `<name> panicked: <message>` and gives `None`.
///
/// The flow is failed (and so aborted) before the task's channels close, so the tasks around
/// it see an aborted flow rather than an input that ended.
pub(crate) async fn supervised<T>(
    name: String,
    state: Arc<FlowState>,
    task: impl Future<Output = T>,
) -> Option<T> {
    match AssertUnwindSafe(task).catch_unwind().await {
        Ok(output) => Some(output),
        Err(panic) => {
            state.fail(format!("{name} panicked: {}", panic_message(&*panic)));
            None
        }
    }
}

/// The text of a panic payload (`panic!` gives a `&str` or a `String`).
pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> &str {
    if let Some(text) = panic.downcast_ref::<&str>() {
        text
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text
    } else {
        "a panic without a message"
    }
}

/// Spawns `task` under supervision: a panic fails the flow naming `name`.
pub(crate) fn spawn_supervised<T: Send + 'static>(
    name: impl Into<String>,
    state: &Arc<FlowState>,
    task: impl Future<Output = T> + Send + 'static,
) -> JoinHandle<Option<T>> {
    tokio::spawn(supervised(name.into(), Arc::clone(state), task))
}

/// Waits for a task. Its own panics are caught inside it; a join error here is a panic that
/// escaped (named as `what`) or the abort of a missed deadline (already a failure).
pub(crate) async fn join<T>(
    task: &mut JoinHandle<Option<T>>,
    state: &FlowState,
    what: &str,
) -> Option<T> {
    match task.await {
        Ok(output) => output,
        Err(error) if error.is_panic() => {
            state.fail(format!(
                "{what} panicked: {}",
                panic_message(&*error.into_panic())
            ));
            None
        }
        Err(_) => None,
    }
}
