//! The Pod Security Standards' `restricted` profile (which includes
//! `baseline`), as Pod Security admission checks a pod spec: each rule
//! below is one of the profile's controls, named as the admission
//! message names it.

use serde_json::Value;

/// Volume types `restricted` allows.
const VOLUME_TYPES: [&str; 8] = [
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// Every violation of `restricted` in a pod spec; empty when it passes.
pub fn restricted_violations(pod: &Value) -> Vec<String> {
    let mut violations = Vec::new();
    let containers: Vec<&Value> = ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .flat_map(|list| pod[*list].as_array().into_iter().flatten())
        .collect();
    let name = |c: &Value| c["name"].as_str().unwrap_or_default().to_owned();
    let pod_context = &pod["securityContext"];

    for flag in ["hostNetwork", "hostPID", "hostIPC"] {
        if pod[flag] == Value::Bool(true) {
            violations.push(format!("host namespaces ({flag}=true)"));
        }
    }
    for volume in pod["volumes"].as_array().into_iter().flatten() {
        let kinds: Vec<&String> =
            volume.as_object().into_iter().flatten().map(|(k, _)| k).filter(|k| *k != "name").collect();
        if kinds.iter().any(|k| !VOLUME_TYPES.contains(&k.as_str())) {
            violations.push(format!("restricted volume types (volume {:?} uses {kinds:?})", volume["name"]));
        }
    }
    // runAsNonRoot: true on the pod, or on every container.
    let pod_non_root = pod_context["runAsNonRoot"] == Value::Bool(true);
    let not_non_root: Vec<String> = containers
        .iter()
        .filter(|c| match &c["securityContext"]["runAsNonRoot"] {
            Value::Bool(b) => !b,
            _ => !pod_non_root,
        })
        .map(|c| name(c))
        .collect();
    if !not_non_root.is_empty() {
        violations.push(format!("runAsNonRoot != true (containers {not_non_root:?})"));
    }
    if pod_context["runAsUser"] == 0 || containers.iter().any(|c| c["securityContext"]["runAsUser"] == 0) {
        violations.push("runAsUser=0".into());
    }
    // seccompProfile RuntimeDefault or Localhost, on the pod or every container.
    let allowed = |p: &Value| matches!(p["type"].as_str(), Some("RuntimeDefault" | "Localhost"));
    let pod_seccomp = allowed(&pod_context["seccompProfile"]);
    let no_seccomp: Vec<String> = containers
        .iter()
        .filter(|c| {
            let own = &c["securityContext"]["seccompProfile"];
            if own.is_null() { !pod_seccomp } else { !allowed(own) }
        })
        .map(|c| name(c))
        .collect();
    if !no_seccomp.is_empty() {
        violations
            .push(format!("seccompProfile (containers {no_seccomp:?} must set RuntimeDefault or Localhost)"));
    }
    for c in &containers {
        let context = &c["securityContext"];
        if context["privileged"] == Value::Bool(true) {
            violations.push(format!("privileged (container {:?})", name(c)));
        }
        if context["allowPrivilegeEscalation"] != Value::Bool(false) {
            violations.push(format!("allowPrivilegeEscalation != false (container {:?})", name(c)));
        }
        let drops = context["capabilities"]["drop"].as_array().cloned().unwrap_or_default();
        if !drops.iter().any(|d| d == "ALL") {
            violations.push(format!("unrestricted capabilities (container {:?} must drop ALL)", name(c)));
        }
        let adds = context["capabilities"]["add"].as_array().cloned().unwrap_or_default();
        if adds.iter().any(|a| a != "NET_BIND_SERVICE") {
            violations.push(format!("unrestricted capabilities (container {:?} adds {adds:?})", name(c)));
        }
        for port in c["ports"].as_array().into_iter().flatten() {
            if port["hostPort"].as_i64().is_some_and(|p| p != 0) {
                violations.push(format!("hostPort (container {:?})", name(c)));
            }
        }
    }
    violations
}
