//! `filter` (keep messages meeting a condition) and `router` (send them to another sink).

use dataflow_core::Record;
use dataflow_spec::{FilterConfig, RouterConfig};
use serde_json::Value;

use super::{ConfigProblem, Effect, Transformation, problem};
use crate::condition::Condition;

struct Filter {
    condition: Condition,
}

pub(super) fn compile_filter(
    config: &FilterConfig,
) -> Result<Box<dyn Transformation>, Vec<ConfigProblem>> {
    let condition =
        Condition::parse(&config.condition).map_err(|e| problem("condition", e.to_string()))?;
    Ok(Box::new(Filter { condition }))
}

impl Transformation for Filter {
    fn apply(&self, record: &mut Record) -> Result<Effect, String> {
        Ok(if self.condition.matches(record) {
            Effect::Keep
        } else {
            Effect::Drop
        })
    }
}

/// A compiled route: its condition and its index among every route of the chain.
pub struct Route {
    condition: Condition,
    index: usize,
}

struct Router {
    routes: Vec<Route>,
}

pub(super) fn compile(
    config: &RouterConfig,
    first_route: usize,
) -> Result<Box<dyn Transformation>, Vec<ConfigProblem>> {
    let mut routes = Vec::new();
    let mut problems = Vec::new();
    for (offset, route) in config.routes.iter().enumerate() {
        match Condition::parse(&route.condition) {
            Ok(condition) => routes.push(Route {
                condition,
                index: first_route + offset,
            }),
            Err(e) => problems.push((format!("routes[{offset}].condition"), e.to_string())),
        }
    }
    if problems.is_empty() {
        Ok(Box::new(Router { routes }))
    } else {
        Err(problems)
    }
}

impl Transformation for Router {
    fn apply(&self, record: &mut Record) -> Result<Effect, String> {
        if record.route.is_some() {
            return Ok(Effect::Keep); // an earlier router already chose
        }
        if let Some(route) = self
            .routes
            .iter()
            .find(|route| route.condition.matches(record))
        {
            record.route = Some(route.index);
            record.metadata.insert(
                "routed_condition".into(),
                Value::String(route.condition.text().to_string()),
            );
        }
        Ok(Effect::Keep)
    }
}
