//! The security contexts of every pod and container the operator makes:
//! what Pod Security `restricted` requires (non-root, the runtime's default
//! seccomp profile, no privilege escalation, every capability dropped),
//! plus a read-only root filesystem wherever the image allows it, with the
//! paths it writes mounted as volumes.

use k8s_openapi::api::core::v1::{
    Capabilities, EmptyDirVolumeSource, PodSecurityContext, SeccompProfile, SecurityContext, Volume,
    VolumeMount,
};

fn runtime_default() -> SeccompProfile {
    SeccompProfile { type_: "RuntimeDefault".into(), ..SeccompProfile::default() }
}

/// A pod running as `uid` (the image's own non-root user), with its volumes
/// group-owned by it.
pub fn pod(uid: i64) -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(uid),
        run_as_group: Some(uid),
        fs_group: Some(uid),
        seccomp_profile: Some(runtime_default()),
        ..PodSecurityContext::default()
    }
}

/// A container with nothing more than its pod grants.
pub fn container(read_only_root: bool) -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        read_only_root_filesystem: Some(read_only_root),
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), ..Capabilities::default() }),
        seccomp_profile: Some(runtime_default()),
        ..SecurityContext::default()
    }
}

/// A writable scratch directory for a read-only root filesystem.
pub fn scratch(name: &str, path: &str) -> (Volume, VolumeMount) {
    (
        Volume { name: name.into(), empty_dir: Some(EmptyDirVolumeSource::default()), ..Volume::default() },
        VolumeMount { name: name.into(), mount_path: path.into(), ..VolumeMount::default() },
    )
}
