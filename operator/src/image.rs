//! Container image references, as the spec's image fields take them:
//! `repository`, `repository:tag`, `repository@sha256:<digest>` or
//! `repository:tag@sha256:<digest>`. One grammar, written once here, is both
//! the CRD's CEL rules (the API server refuses a bad reference at
//! `kubectl apply`) and the validate step's check (for a CRD applied late).
//!
//! Why digests matter: a tag is a name a registry lets anyone with push
//! rights move, not a release. With `imagePullPolicy: IfNotPresent`, each
//! node runs whatever the tag meant when that node first pulled it, so two
//! pods of one StatefulSet (a primary and its replica) can run different
//! builds, and a re-pushed tag changes what runs at the next reschedule.
//! A digest names the bytes: every node runs the same image, forever.
//! So the pull policy follows the reference ([`pull_policy`]): a tag is
//! asked of the registry at every container start, a digest is not.

use std::sync::LazyLock;

// Macros, not consts, so that `concat!` can put the patterns into the CEL
// rules at compile time.
macro_rules! form {
    () => {
        "^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:[.][a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127})?(?:@.*)?$"
    };
}
macro_rules! digest {
    () => {
        "^[^@]+@sha256:[a-f0-9]{64}$"
    };
}

/// The whole reference, digest part aside (any text after an `@`, which
/// [`DIGEST`] judges): an optional registry host (with a port) and `/`,
/// lowercase path components joined by `/` (separators `.`, `_`, `__` or
/// dashes inside one), then an optional tag of up to 128 characters.
/// The grammar of the distribution project's `reference` package. In RE2
/// syntax with no backslash, so it reads the same in a CEL string literal
/// and to the `regex` crate.
pub const FORM: &str = form!();

/// A reference with an `@` ends in exactly one sha256 digest: the only
/// algorithm registries address manifests by.
pub const DIGEST: &str = digest!();

/// What the CRD and the validate step say of a reference that breaks [`FORM`].
pub const FORM_MESSAGE: &str = "must be an image reference: a lowercase repository (with an optional registry host), an optional :tag and an optional @sha256:<digest>, such as ghcr.io/payrail/payment-app:0.1.0 or ghcr.io/payrail/payment-app:0.1.0@sha256:<64 hex digits>";

/// ... and of one whose digest breaks [`DIGEST`].
pub const DIGEST_MESSAGE: &str = "the digest after @ must be sha256: and 64 lowercase hex digits, as the registry reports it (crane digest, docker buildx imagetools inspect)";

/// The longest reference the CRD admits: a 255-character name, a
/// 128-character tag and a digest fit. It also bounds what the CEL rules
/// may cost the API server.
pub const MAX_LENGTH: u32 = 512;

/// The CEL rule for [`FORM`].
pub const FORM_RULE: &str = concat!("self.matches('", form!(), "')");

/// The CEL rule for [`DIGEST`].
pub const DIGEST_RULE: &str = concat!("!self.contains('@') || self.matches('", digest!(), "')");

/// What is wrong with `reference`, if anything: [`FORM_MESSAGE`] or
/// [`DIGEST_MESSAGE`].
pub fn problem(reference: &str) -> Option<&'static str> {
    static FORM_RE: LazyLock<regex::Regex> = LazyLock::new(|| regex::Regex::new(FORM).expect("FORM"));
    static DIGEST_RE: LazyLock<regex::Regex> = LazyLock::new(|| regex::Regex::new(DIGEST).expect("DIGEST"));
    if reference.len() > MAX_LENGTH as usize || !FORM_RE.is_match(reference) {
        Some(FORM_MESSAGE)
    } else if reference.contains('@') && !DIGEST_RE.is_match(reference) {
        Some(DIGEST_MESSAGE)
    } else {
        None
    }
}

/// The `imagePullPolicy` of a container running `reference`, for every
/// container and CNPG image the operator writes. A digest names the bytes,
/// so a node's copy is the image: `IfNotPresent`. A tag names whatever the
/// registry says now: `Always`, so each start asks the registry (layers a
/// node has are not downloaded again), and a pod started today never runs
/// the build a node cached months ago while its peer runs the new one, as
/// `IfNotPresent` (Kubernetes' default for any tag but `latest`) allows.
pub fn pull_policy(reference: &str) -> &'static str {
    if reference.contains('@') { "IfNotPresent" } else { "Always" }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Issue 25, item 11: a tag moves, a digest does not.
    #[test]
    fn a_tag_is_pulled_at_every_start_and_a_digest_once() {
        let digest = "0".repeat(64);
        assert_eq!(pull_policy("ghcr.io/payrail/payment-app:0.1.0"), "Always");
        assert_eq!(pull_policy("redis:7.2"), "Always");
        assert_eq!(pull_policy("registry:5000/redis"), "Always", "no tag: latest");
        assert_eq!(pull_policy(&format!("redis@sha256:{digest}")), "IfNotPresent");
        assert_eq!(pull_policy(&format!("registry:5000/redis:7.2@sha256:{digest}")), "IfNotPresent");
    }
}
