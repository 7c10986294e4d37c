//! What a real API server refuses on a write, for the kinds the operator
//! writes: the validation of StatefulSet, Deployment and
//! PersistentVolumeClaim updates, and Pod Security admission.
//!
//! One deliberate difference: Pod Security admission only *warns* about a
//! Deployment or StatefulSet whose pod template breaks the namespace's
//! level, and refuses the pods its controller then creates. The fake has
//! no controllers, so it refuses the workload itself: the test sees the
//! refusal the cluster would show as pods that never appear.

use std::collections::BTreeMap;

use http::StatusCode;
use serde_json::Value;

use super::psa;
use crate::fake::get_path;

pub type Refusal = (StatusCode, &'static str, String);

/// StatefulSet spec fields an update may change (apps/v1 validation).
const STATEFULSET_MUTABLE: [&str; 6] = [
    "replicas",
    "template",
    "updateStrategy",
    "ordinals",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
];

fn invalid(kind: &str, name: &str, message: String) -> Refusal {
    (StatusCode::UNPROCESSABLE_ENTITY, "Invalid", format!("{kind} \"{name}\" is invalid: {message}"))
}

pub fn admit(
    resource: &str,
    object: &Value,
    old: Option<&Value>,
    namespace_labels: &BTreeMap<String, String>,
) -> Result<(), Refusal> {
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    if let Some(old) = old {
        match resource {
            "statefulsets" => {
                let changed: Vec<&str> = object["spec"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k.as_str())
                    .chain(old["spec"].as_object().into_iter().flatten().map(|(k, _)| k.as_str()))
                    .filter(|k| !STATEFULSET_MUTABLE.contains(k) && object["spec"][*k] != old["spec"][*k])
                    .collect();
                if !changed.is_empty() {
                    return Err(invalid(
                        "StatefulSet.apps",
                        name,
                        format!(
                            "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden (changed: {})",
                            changed.join(", ")
                        ),
                    ));
                }
            }
            "deployments" if object["spec"]["selector"] != old["spec"]["selector"] => {
                return Err(invalid(
                    "Deployment.apps",
                    name,
                    format!(
                        "spec.selector: Invalid value: {}: field is immutable",
                        object["spec"]["selector"]
                    ),
                ));
            }
            "persistentvolumeclaims" => {
                let size = |o: &Value| {
                    get_path(o, "/spec/resources/requests/storage")
                        .and_then(Value::as_str)
                        .and_then(payrail_operator::validate::parse_quantity)
                };
                if size(object) < size(old) {
                    return Err(invalid(
                        "PersistentVolumeClaim",
                        name,
                        "spec.resources.requests.storage: Forbidden: field can not be less than previous value".into(),
                    ));
                }
                let mut spec = object["spec"].clone();
                let mut old_spec = old["spec"].clone();
                for s in [&mut spec, &mut old_spec] {
                    if let Some(requests) = s.pointer_mut("/resources/requests") {
                        requests.as_object_mut().map(|r| r.remove("storage"));
                    }
                }
                if spec != old_spec {
                    return Err(invalid(
                        "PersistentVolumeClaim",
                        name,
                        "spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims".into(),
                    ));
                }
            }
            _ => {}
        }
    }
    if namespace_labels.get("pod-security.kubernetes.io/enforce").map(String::as_str) == Some("restricted") {
        let pod = match resource {
            "deployments" | "statefulsets" => Some(&object["spec"]["template"]["spec"]),
            "pods" => Some(&object["spec"]),
            _ => None,
        };
        if let Some(pod) = pod {
            let violations = psa::restricted_violations(pod);
            if !violations.is_empty() {
                return Err((
                    StatusCode::FORBIDDEN,
                    "Forbidden",
                    format!("{name}: violates PodSecurity \"restricted:latest\": {}", violations.join(", ")),
                ));
            }
        }
    }
    Ok(())
}
