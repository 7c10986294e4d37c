//! The process bookkeeping of `scripts/lib.sh` that `scripts/kube-up` and
//! `scripts/kube-down` rely on to tell whether etcd, the API server and the
//! controller manager they started are still running.

use std::path::Path;
use std::process::Command;

/// Runs a bash snippet with scripts/lib.sh sourced; its stdout, or a panic
/// with its stderr.
fn lib_sh(script: &str) -> String {
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/lib.sh");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail; source {}; {script}", lib.display()))
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{script}\nfailed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

/// A component is checked right after `&` returns, while the forked shell
/// has not yet exec'd it: its command line is still the caller's. kube-up
/// used to recognise its processes by their command line naming its
/// directory, and so took a just-started etcd for one that had exited
/// ("kube-up: etcd exited", an empty etcd.log): it failed a CI run so.
/// The shell here waits a second before it execs, to hold that window open.
#[test]
fn a_process_is_ours_before_it_execs() {
    let out = lib_sh(
        r#"dir=$(mktemp -d)
        (sleep 1; exec sleep 30) &
        proc_record $! "$dir/p"
        echo "before exec: $(proc_alive "$dir/p" || echo gone)"
        sleep 1.5
        echo "after exec: $(proc_alive "$dir/p" || echo gone)"
        kill "$(proc_alive "$dir/p")"
        wait || true
        echo "killed: $(proc_alive "$dir/p" || echo gone)"
        rm -rf "$dir""#,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    let pid = lines[0].strip_prefix("before exec: ").unwrap();
    assert!(pid.parse::<u32>().is_ok(), "the process was taken for gone before it exec'd: {out}");
    assert_eq!(lines[1], format!("after exec: {pid}"), "{out}");
    assert_eq!(lines[2], "killed: gone", "{out}");
}

/// An exited child that nobody has reaped yet (a zombie: /proc still has
/// it) is not running; and a live process whose start time is not the one
/// recorded is someone else's, however its pid came to match.
#[test]
fn zombies_and_reused_pids_are_not_ours() {
    let out = lib_sh(
        r#"dir=$(mktemp -d)
        # bash reaps its own children at once, so the zombie's parent is
        # a `sleep`, which never reaps: the subshell starts the child,
        # records it, and becomes that sleep.
        (sleep 0.2 & proc_record $! "$dir/p"; exec sleep 30) &
        parent=$!
        until [ -s "$dir/p" ]; do sleep 0.05; done
        read -r pid _ < "$dir/p"
        until grep -q '^State:.*Z' /proc/$pid/status; do sleep 0.05; done
        echo "zombie: $(proc_alive "$dir/p" || echo gone)"
        kill $parent; wait $parent || true
        echo "$$ 1" > "$dir/q"
        echo "reused: $(proc_alive "$dir/q" || echo gone)"
        proc_record $$ "$dir/r"
        [ "$(proc_alive "$dir/r")" = $$ ] && echo "self: ours"
        rm -rf "$dir""#,
    );
    assert_eq!(out, "zombie: gone\nreused: gone\nself: ours\n");
}
