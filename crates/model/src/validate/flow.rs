//! The rules of a flow as a whole: names, the transformations' route sinks, a file sink on
//! the source's own file, the top-level settings, maintenance windows, idempotency warnings,
//! and SecretRefs.

use super::*;

impl Rules {
    /// Checks the router routes' sinks (the rules of each step — paths, conditions, formats,
    /// exclusive fields — are the transform crate's, which compiles them); returns the route
    /// sinks with their paths.
    pub(super) fn transformations(
        &mut self,
        steps: &[TransformationSpec],
    ) -> Vec<(String, SinkSpec)> {
        let mut route_sinks = Vec::new();
        for (index, step) in steps.iter().enumerate() {
            let path = field(&join_index("spec.transformations", index), "config");
            if let Step::Router(router) = &step.step {
                if router.routes.is_empty() {
                    self.error(field(&path, "routes"), "router needs at least one route");
                }
                for (route_index, route) in router.routes.iter().enumerate() {
                    let route_path = join_index(&field(&path, "routes"), route_index);
                    let sink_path = field(&route_path, "sink");
                    self.sink(&route.sink, &field(&sink_path, "config"));
                    route_sinks.push((sink_path, route.sink.clone()));
                }
            }
        }
        route_sinks
    }

    /// Names as Kubernetes accepts them (DNS-1123): besides being valid in a cluster, this
    /// keeps `<namespace>_<name>` checkpoint file names apart (`team/a_b` and `team_a/b` were
    /// the same file, and the second flow silently skipped its input).
    pub(super) fn names(&mut self, flow: &DataFlow) {
        if let Some(name) = &flow.metadata.name
            && !is_dns_subdomain(name)
        {
            self.error(
                "metadata.name",
                format!(
                    "{name:?} is not a valid name: lowercase letters, digits, '-' and '.', \
                         starting and ending with a letter or digit, at most 253 characters"
                ),
            );
        }
        if let Some(namespace) = &flow.metadata.namespace
            && !(is_dns_label(namespace))
        {
            self.error(
                "metadata.namespace",
                format!(
                    "{namespace:?} is not a valid namespace: lowercase letters, digits and \
                         '-', starting and ending with a letter or digit, at most 63 characters"
                ),
            );
        }
    }

    /// A file sink writing the file the source reads would feed itself for ever (A14).
    pub(super) fn file_loops(&mut self, spec: &DataFlowSpec, route_sinks: &[(String, SinkSpec)]) {
        let SourceSpec::File(source) = &spec.source else {
            return;
        };
        let read = normal_path(&source.path);
        let mut sinks = vec![("spec.sink.config".to_string(), &spec.sink)];
        if let Some(errors) = &spec.errors {
            sinks.push(("spec.errors.config".to_string(), &errors.sink));
        }
        for (path, sink) in route_sinks {
            sinks.push((field(path, "config"), sink));
        }
        for (path, sink) in sinks {
            if let SinkSpec::File(file) = sink
                && normal_path(&file.path) == read
            {
                self.error(
                    field(&path, "path"),
                    format!(
                        "{:?} is also the source's file: the flow would read its own output",
                        file.path
                    ),
                );
            }
        }
    }

    pub(super) fn top_level(&mut self, spec: &DataFlowSpec) {
        if spec.replicas > 1 && !matches!(spec.source, SourceSpec::Kafka(_)) {
            self.error(
                "spec.replicas",
                format!(
                    "replicas: {} is only allowed with a kafka source (a {} source keeps one \
                     checkpoint and must run as a single replica)",
                    spec.replicas,
                    spec.source.type_name()
                ),
            );
        }
        if !(1..=64).contains(&spec.transform_workers) {
            self.error(
                "spec.transformWorkers",
                "transformWorkers must be between 1 and 64",
            );
        }
        if spec.channel_buffer_size == 0 {
            self.error(
                "spec.channelBufferSize",
                "channelBufferSize must be at least 1",
            );
        }
        if let Err(message) = parse_go_duration(&spec.checkpoint_save_interval) {
            self.error("spec.checkpointSaveInterval", message);
        }
        for (index, secret) in spec.image_pull_secrets.iter().enumerate() {
            if secret.name.is_empty() {
                self.error(
                    format!("spec.imagePullSecrets[{index}].name"),
                    "name is required",
                );
            }
        }
        if let Some(resources) = &spec.resources {
            for (kind, map) in [
                ("limits", &resources.limits),
                ("requests", &resources.requests),
            ] {
                for (name, quantity) in map {
                    let negative = match quantity {
                        Quantity::Number(n) => *n < 0.0,
                        Quantity::Text(t) => t.trim_start().starts_with('-'),
                    };
                    if negative {
                        self.error(
                            format!("spec.resources.{kind}.{name}"),
                            "resources must not be negative",
                        );
                    }
                }
            }
        }
        if let Some(maintenance) = &spec.maintenance {
            self.maintenance(maintenance);
        }
    }

    pub(super) fn maintenance(&mut self, m: &Maintenance) {
        let path = "spec.maintenance";
        match (&m.start_time, &m.duration) {
            (Some(_), None) => self.error(
                field(path, "duration"),
                "duration is required with startTime",
            ),
            (None, Some(_)) => self.error(
                field(path, "startTime"),
                "startTime is required with duration",
            ),
            _ => {}
        }
        if let Some(start) = &m.start_time
            && chrono::DateTime::parse_from_rfc3339(start).is_err()
        {
            self.error(
                field(path, "startTime"),
                format!("{start:?} is not an RFC3339 time such as 2026-01-31T02:00:00Z"),
            );
        }
        if let Some(duration) = self.duration(path, "duration", &m.duration)
            && duration.is_zero()
        {
            self.error(
                field(path, "duration"),
                "duration must be greater than zero",
            );
        }
        if let Some(zone) = &m.timezone
            && zone.parse::<chrono_tz::Tz>().is_err()
        {
            self.error(
                field(path, "timezone"),
                format!("{zone:?} is not an IANA time zone such as Europe/Berlin or UTC"),
            );
        }
    }

    pub(super) fn idempotency(&mut self, spec: &DataFlowSpec, route_sinks: &[(String, SinkSpec)]) {
        if !spec.source.is_polling() {
            return;
        }
        let mut outputs: Vec<(String, &SinkSpec)> = vec![("spec.sink".into(), &spec.sink)];
        if let Some(errors) = &spec.errors {
            outputs.push(("spec.errors".into(), &errors.sink));
        }
        outputs.extend(route_sinks.iter().map(|(path, sink)| (path.clone(), sink)));
        for (path, sink) in outputs {
            if sink.is_idempotent() {
                continue;
            }
            let message = format!(
                "a {} source may re-read rows after a restart, and this {} sink is not idempotent \
                 (use a postgresql, clickhouse or trino sink with upsertMode and conflictKey), so \
                 duplicates are possible",
                spec.source.type_name(),
                sink.type_name()
            );
            if spec.strict_idempotency {
                self.error(path, format!("{message} (strictIdempotency is on)"));
            } else {
                self.warning(path, message);
            }
        }
    }

    /// Every `*SecretRef` object needs `name` and `key`.
    pub(super) fn secret_refs(&mut self, value: &Value, path: &str) {
        match value {
            Value::Object(object) => {
                for (key, child) in object {
                    let child_path = join_key(path, key);
                    if key.ends_with("SecretRef") {
                        if let Some(reference) = child.as_object() {
                            for required in ["name", "key"] {
                                let missing = reference
                                    .get(required)
                                    .and_then(Value::as_str)
                                    .is_none_or(|v| v.trim().is_empty());
                                if missing {
                                    self.error(
                                        join_key(&child_path, required),
                                        format!("{required} is required in a secret reference"),
                                    );
                                }
                            }
                        }
                    } else {
                        self.secret_refs(child, &child_path);
                    }
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    self.secret_refs(item, &join_index(path, index));
                }
            }
            _ => {}
        }
    }
}
