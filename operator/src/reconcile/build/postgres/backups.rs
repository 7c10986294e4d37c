//! `BackupsHealthy` of a `cnpg` cluster: whether it could be restored now.
//! That takes two things, and archiving WAL is only one of them: a restore
//! starts from a base backup and replays WAL from there, so archived WAL
//! with no base backup restores nothing, and archived WAL after a string of
//! failed base backups restores only as far back as the last good one,
//! which retention will delete. CNPG reports the first on its `Cluster`
//! (`ContinuousArchiving`); the Barman Cloud plugin reports the second on
//! the `ObjectStore` (its recovery window). Pure, with a table test.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::cnpg::RecoveryWindow;

/// The `BackupsHealthy` condition's status, reason and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub healthy: bool,
    pub reason: &'static str,
    pub message: String,
}

impl Verdict {
    fn new(healthy: bool, reason: &'static str, message: String) -> Self {
        Verdict { healthy, reason, message }
    }
}

/// What CNPG said of WAL archiving: its `ContinuousArchiving` condition's
/// status and message, `None` until it says anything.
pub type Archiving<'a> = Option<(bool, &'a str)>;

/// The verdict on a cluster with `postgres.backup`, from CNPG's archiving
/// condition and the plugin's recovery window for this cluster (`None`
/// until the plugin has written one). Archiving comes first: when it fails
/// no point after the last archived segment can be restored, whatever the
/// base backups.
pub fn verdict(archiving: Archiving<'_>, window: Option<&RecoveryWindow>) -> Verdict {
    let archiving_message = match archiving {
        None => {
            return Verdict::new(
                false,
                "ArchivingNotReported",
                "CloudNativePG has not reported WAL archiving yet".into(),
            );
        }
        Some((false, message)) => return Verdict::new(false, "ArchivingFailing", message.to_owned()),
        Some((true, message)) => message,
    };
    let window = window.cloned().unwrap_or_default();
    let (succeeded, failed) = (&window.last_successful_backup_time, &window.last_failed_backup_time);
    match (succeeded, failed) {
        (None, None) => Verdict::new(
            false,
            "NoBaseBackup",
            "WAL is archived, but no base backup has completed yet: nothing can be restored until one does"
                .into(),
        ),
        (None, Some(failed)) => Verdict::new(
            false,
            "BaseBackupFailing",
            format!(
                "no base backup has ever succeeded (the last attempt failed at {}): nothing can be restored",
                shown(failed)
            ),
        ),
        (Some(succeeded), Some(failed)) if failed > succeeded => Verdict::new(
            false,
            "BaseBackupFailing",
            format!(
                "the last base backup failed at {}; the last good one is from {}{}",
                shown(failed),
                shown(succeeded),
                recoverable_from(&window)
            ),
        ),
        (Some(succeeded), _) => {
            let archiving =
                if archiving_message.is_empty() { String::new() } else { format!("; {archiving_message}") };
            Verdict::new(
                true,
                "Recoverable",
                format!("last base backup at {}{}{archiving}", shown(succeeded), recoverable_from(&window)),
            )
        }
    }
}

fn recoverable_from(window: &RecoveryWindow) -> String {
    window
        .first_recoverability_point
        .as_ref()
        .map_or_else(String::new, |t| format!(", recoverable from {}", shown(t)))
}

fn shown(time: &Time) -> String {
    time.0.to_string()
}
