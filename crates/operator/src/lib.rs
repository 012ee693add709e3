//! The Kubernetes side of DataFlow. The controller (dereference → validate → build → apply →
//! status) arrives with the operator issue; this crate starts with the names of the objects
//! owned per DataFlow, which the runner and the processor already share.

/// Names of the objects the operator owns for one DataFlow (original-behaviour §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedNames {
    /// The processor Deployment, `df-<name>`.
    pub deployment: String,
    /// The resolved-spec ConfigMap, `df-<name>-spec`.
    pub spec_config_map: String,
    /// The checkpoint ConfigMap, `df-<name>-checkpoint`.
    pub checkpoint_config_map: String,
    /// ServiceAccount, Role and RoleBinding of the processor, `df-<name>-processor`.
    pub processor_account: String,
}

impl OwnedNames {
    /// The names for DataFlow `name`.
    pub fn for_dataflow(name: &str) -> Self {
        OwnedNames {
            deployment: format!("df-{name}"),
            spec_config_map: format!("df-{name}-spec"),
            checkpoint_config_map: format!("df-{name}-checkpoint"),
            processor_account: format!("df-{name}-processor"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_original() {
        let names = OwnedNames::for_dataflow("orders");
        assert_eq!(names.deployment, "df-orders");
        assert_eq!(names.spec_config_map, "df-orders-spec");
        assert_eq!(names.checkpoint_config_map, "df-orders-checkpoint");
        assert_eq!(names.processor_account, "df-orders-processor");
    }
}
