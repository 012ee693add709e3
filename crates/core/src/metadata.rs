//! Record metadata: a string-keyed JSON map (`topic`, `partition`, `offset`, `key`, `table`,
//! `id`, `operation`, …) that a source may describe instead of building. A described map is
//! built the first time anything reads or changes it, so a flow whose transformations and sinks
//! never look at metadata never pays for it (a Kafka record's six entries cost about as much as
//! checking its JSON payload).

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

/// Builds a record's metadata on first use; shared by the copies of a record.
pub type MetadataBuilder = Arc<dyn Fn() -> Map<String, Value> + Send + Sync>;

/// A record's metadata. Reads and writes go through [`Deref`] / [`DerefMut`] to the map,
/// which is built then if a source deferred it with [`Metadata::deferred`].
#[derive(Default)]
pub struct Metadata {
    map: OnceLock<Map<String, Value>>,
    builder: Option<MetadataBuilder>,
}

impl Metadata {
    /// Empty metadata.
    pub fn new() -> Self {
        Metadata::default()
    }

    /// Metadata that `builder` produces when something first reads it.
    pub fn deferred(builder: MetadataBuilder) -> Self {
        Metadata {
            map: OnceLock::new(),
            builder: Some(builder),
        }
    }

    /// The map, built now if it was deferred.
    pub fn into_map(mut self) -> Map<String, Value> {
        std::mem::take(self.deref_mut())
    }

    fn build(&self) -> Map<String, Value> {
        self.builder.as_ref().map_or_else(Map::new, |build| build())
    }
}

impl From<Map<String, Value>> for Metadata {
    fn from(map: Map<String, Value>) -> Self {
        Metadata {
            map: OnceLock::from(map),
            builder: None,
        }
    }
}

impl Deref for Metadata {
    type Target = Map<String, Value>;

    fn deref(&self) -> &Map<String, Value> {
        self.map.get_or_init(|| self.build())
    }
}

impl DerefMut for Metadata {
    fn deref_mut(&mut self) -> &mut Map<String, Value> {
        if self.map.get().is_none() {
            let built = self.build();
            self.map = OnceLock::from(built);
        }
        // Once changed, the map is the only truth.
        self.builder = None;
        self.map.get_mut().expect("built above")
    }
}

impl Clone for Metadata {
    fn clone(&self) -> Self {
        match self.map.get() {
            Some(map) => Metadata::from(map.clone()),
            None => Metadata {
                map: OnceLock::new(),
                builder: self.builder.clone(),
            },
        }
    }
}

impl PartialEq for Metadata {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counted() -> (Metadata, Arc<AtomicUsize>) {
        let builds = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&builds);
        let metadata = Metadata::deferred(Arc::new(move || {
            seen.fetch_add(1, Ordering::SeqCst);
            let mut map = Map::new();
            map.insert("topic".into(), json!("orders"));
            map.insert("offset".into(), json!(7));
            map
        }));
        (metadata, builds)
    }

    #[test]
    fn deferred_metadata_is_built_once_on_first_read() {
        let (metadata, builds) = counted();
        assert_eq!(builds.load(Ordering::SeqCst), 0);
        assert_eq!(metadata.get("offset"), Some(&json!(7)));
        assert_eq!(metadata.len(), 2);
        assert_eq!(builds.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn writes_build_first_and_copies_stay_independent() {
        let (mut metadata, builds) = counted();
        let copy = metadata.clone();
        metadata.insert("key".into(), json!("k1"));
        assert_eq!(
            Value::Object(metadata.clone().into_map()),
            json!({"topic": "orders", "offset": 7, "key": "k1"})
        );
        assert_eq!(
            Value::Object(copy.into_map()),
            json!({"topic": "orders", "offset": 7})
        );
        assert_eq!(builds.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn equal_maps_are_equal_however_they_were_made() {
        let (deferred, _) = counted();
        let mut built = Map::new();
        built.insert("topic".into(), json!("orders"));
        built.insert("offset".into(), json!(7));
        assert_eq!(deferred, Metadata::from(built));
        assert_ne!(deferred, Metadata::new());
    }
}
