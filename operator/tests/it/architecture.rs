//! ARCHITECTURE.md's rule for the operator, held: a module imports only
//! modules of a lower layer, never one of its own ancestors (a parent
//! declares and uses its children, so a child that imports its parent
//! closes a circle), and no import circle exists between any two files.
//! The layers are read from ARCHITECTURE.md's table, the imports from every
//! `crate::`, `super::` and `self::` path under `operator/src` (tests and
//! comments aside), so neither the document nor the code can drift.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// `module path -> layer`, from the table under "Who may import whom in
/// the operator" (a module path such as `reconcile::build` covers the
/// files below it).
fn layers() -> BTreeMap<String, u32> {
    let doc = std::fs::read_to_string(root().join("../ARCHITECTURE.md")).unwrap();
    let section = doc.split("### Who may import whom in the operator").nth(1).expect("the section exists");
    let mut layers = BTreeMap::new();
    for line in section.lines().skip(1).take_while(|l| !l.starts_with('#')) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(layer) = cells.get(1).and_then(|c| c.parse::<u32>().ok()) else { continue };
        for module in cells[2].split(',') {
            layers.insert(module.trim().trim_matches('`').to_owned(), layer);
        }
    }
    layers
}

/// Every library file's module path (`reconcile/build/mod.rs` is
/// `reconcile::build`), with its source: test modules (`tests.rs`, and
/// everything from a file's `#[cfg(test)]` on) and comment lines left out.
fn modules() -> BTreeMap<String, String> {
    let src = root().join("src");
    let mut modules = BTreeMap::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let relative = path.strip_prefix(&src).unwrap().to_str().unwrap().to_owned();
            let Some(stem) = relative.strip_suffix(".rs") else { continue };
            if ["main", "lib"].contains(&stem) || stem == "tests" || stem.ends_with("/tests") {
                continue;
            }
            let module = stem.trim_end_matches("/mod").replace('/', "::");
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let code: Vec<&str> = code.lines().filter(|l| !l.trim_start().starts_with("//")).collect();
            modules.insert(module, code.join("\n"));
        }
    }
    modules
}

/// Every path that starts with `crate::`, `super::` or `self::` in
/// `source`, as seen from `module`, made absolute (without `crate::`);
/// groups (`super::{a, b::{c, d}}`) give one path per leaf.
fn imported(module: &str, source: &str) -> Vec<String> {
    let mut found = Vec::new();
    let starts = source.char_indices().filter(|(at, _)| {
        let before = source[..*at].chars().next_back();
        let boundary = before.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'));
        boundary && ["crate::", "super::", "self::"].iter().any(|p| source[*at..].starts_with(p))
    });
    for (at, _) in starts {
        let mut base: Vec<&str> = module.split("::").collect();
        let mut rest = &source[at..];
        if let Some(after) = rest.strip_prefix("crate::") {
            base.clear();
            rest = after;
        } else {
            loop {
                if let Some(after) = rest.strip_prefix("super::") {
                    base.pop();
                    rest = after;
                } else if let Some(after) = rest.strip_prefix("self::") {
                    rest = after;
                } else {
                    break;
                }
            }
        }
        expand(&base.join("::"), rest, &mut found);
    }
    found
}

/// Appends the leaves of the path (or group) at the start of `rest`, each
/// after `prefix`.
fn expand(prefix: &str, rest: &str, found: &mut Vec<String>) {
    if let Some(group) = rest.strip_prefix('{') {
        return expand_group(prefix, group, found);
    }
    let mut path = String::new();
    let mut chars = rest.char_indices();
    while let Some((at, c)) = chars.next() {
        if c.is_ascii_alphanumeric() || c == '_' {
            path.push(c);
        } else if let Some(group) = rest[at..].strip_prefix("::{") {
            return expand_group(&join(prefix, &path), group, found);
        } else if rest[at..].starts_with("::") {
            path.push_str("::");
            chars.next();
        } else {
            break;
        }
    }
    match path.trim_end_matches("::") {
        "" | "self" => found.push(prefix.to_owned()),
        path => found.push(join(prefix, path)),
    }
}

/// The leaves of each member of the group `group` opens (past its `{`).
fn expand_group(prefix: &str, group: &str, found: &mut Vec<String>) {
    let (mut depth, mut start) = (0, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                if !group[start..i].trim().is_empty() {
                    expand(prefix, group[start..i].trim(), found);
                }
                return;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                expand(prefix, group[start..i].trim(), found);
                start = i + 1;
            }
            _ => {}
        }
    }
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() { b.to_owned() } else { format!("{a}::{b}") }
}

/// The module a path names or names an item of: its longest prefix that
/// is a module (`Error` and `Result` are re-exported from `error`).
fn module_of(path: &str, modules: &BTreeMap<String, String>) -> Option<String> {
    if path == "Error" || path == "Result" {
        return Some("error".into());
    }
    let segments: Vec<&str> = path.split("::").collect();
    (1..=segments.len()).rev().map(|n| segments[..n].join("::")).find(|m| modules.contains_key(m))
}

/// The table entry that places `module`: itself, or its nearest ancestor.
fn entry_of<'a>(module: &str, layers: &'a BTreeMap<String, u32>) -> Option<(&'a String, u32)> {
    let segments: Vec<&str> = module.split("::").collect();
    (1..=segments.len())
        .rev()
        .find_map(|n| layers.get_key_value(&segments[..n].join("::")))
        .map(|(entry, layer)| (entry, *layer))
}

fn is_ancestor(ancestor: &str, of: &str) -> bool {
    of.strip_prefix(ancestor).is_some_and(|rest| rest.starts_with("::"))
}

/// `module -> the modules it imports`, and the problems found reading it.
fn graph(modules: &BTreeMap<String, String>) -> (BTreeMap<String, BTreeSet<String>>, Vec<String>) {
    let mut graph = BTreeMap::new();
    let mut problems = Vec::new();
    for (module, source) in modules {
        let mut edges = BTreeSet::new();
        for path in imported(module, source) {
            match module_of(&path, modules) {
                Some(target) if target == *module || is_ancestor(module, &target) => {}
                Some(target) => {
                    edges.insert(target);
                }
                None => problems.push(format!("{module}: `{path}` names no module of the crate")),
            }
        }
        graph.insert(module.clone(), edges);
    }
    (graph, problems)
}

/// One import circle of `graph`, if there is any.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit<'a>(
        node: &'a String,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a String>,
        done: &mut BTreeSet<&'a String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| *n == node) {
            return Some(path[at..].iter().chain([&node]).map(|n| (*n).clone()).collect());
        }
        if !done.insert(node) {
            return None;
        }
        path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_import_runs_back_up_and_none_closes_a_circle() {
    let (layers, modules) = (layers(), modules());
    assert!(layers.len() > 10, "the layer table was not found: {layers:?}");
    let (graph, mut violations) = graph(&modules);
    for (module, targets) in &graph {
        let Some((entry, layer)) = entry_of(module, &layers) else {
            violations.push(format!("{module}: ARCHITECTURE.md's table does not place it"));
            continue;
        };
        for target in targets {
            if is_ancestor(target, module) {
                violations.push(format!("{module} imports its ancestor `{target}`"));
                continue;
            }
            match entry_of(target, &layers) {
                Some((other, _)) if other == entry => {}
                Some((_, l)) if l < layer => {}
                Some((other, l)) => violations.push(format!(
                    "{module}: `{entry}` (layer {layer}) imports `{target}` of `{other}` (layer {l})"
                )),
                None => {}
            }
        }
    }
    if let Some(circle) = circle(&graph) {
        violations.push(format!("an import circle: {}", circle.join(" -> ")));
    }
    assert!(violations.is_empty(), "imports against ARCHITECTURE.md:\n{}", violations.join("\n"));
}

#[test]
fn every_table_entry_names_a_module() {
    let modules = modules();
    let unknown: Vec<_> = layers().into_keys().filter(|m| !modules.contains_key(m)).collect();
    assert!(unknown.is_empty(), "ARCHITECTURE.md places modules that do not exist: {unknown:?}");
}

#[test]
fn paths_are_read_as_the_compiler_reads_them() {
    let source = "use super::{env::{plain, secret_env}, Child};\nuse crate::names::Names;\nlet x = self::meta::labels(); use super::super::failure::ChildFailure;";
    assert_eq!(
        imported("reconcile::build::app", source),
        [
            "reconcile::build::env::plain",
            "reconcile::build::env::secret_env",
            "reconcile::build::Child",
            "names::Names",
            "reconcile::build::app::meta::labels",
            "reconcile::failure::ChildFailure",
        ]
    );
}

#[test]
fn a_circle_is_found() {
    let graph: BTreeMap<String, BTreeSet<String>> =
        [("a", &["b"][..]), ("b", &["c"][..]), ("c", &["a"][..]), ("d", &[][..])]
            .into_iter()
            .map(|(m, to)| (m.to_owned(), to.iter().map(|t| (*t).to_owned()).collect()))
            .collect();
    assert_eq!(circle(&graph).unwrap(), ["a", "b", "c", "a"]);
    let mut broken = graph.clone();
    broken.get_mut("c").unwrap().clear();
    assert_eq!(circle(&broken), None);
}

/// Issue 28: `ValidatedCluster` is the boundary between the spec as written
/// and the builders. Past validate, the pipeline's pure steps (build, and the
/// volume plan) take typed settings only: none of them names the resource
/// or its spec types, so none can read a field validate did not resolve.
#[test]
fn builders_never_read_the_raw_spec() {
    let raw = ["PaymentCluster", ".spec()"];
    let mut readers = Vec::new();
    for (module, code) in modules() {
        let pure = module.starts_with("reconcile::build") || module == "reconcile::volumes";
        // What is between quotes is text (a runbook may name the resource).
        let outside_quotes: String =
            code.lines().flat_map(|line| line.split('"').step_by(2)).collect::<Vec<_>>().join(" ");
        for what in raw.iter().filter(|what| pure && outside_quotes.contains(**what)) {
            readers.push(format!("{module} names {what}"));
        }
    }
    assert!(readers.is_empty(), "builders read the raw spec: {readers:#?}");
}

/// Issue 28: status does not match on the PostgreSQL provider or read its
/// kinds: the seam (`reconcile::build::postgres`) counts the servers and
/// words their conditions, so another provider is not an edit of status.
#[test]
fn status_asks_the_postgres_seam() {
    let provider_specific =
        ["CnpgCluster", "ObjectStore", "Source::", "PostgresPlan::", "server_statefulsets"];
    let status = modules().remove("reconcile::status").expect("reconcile::status exists");
    let outside_quotes: String =
        status.lines().flat_map(|line| line.split('"').step_by(2)).collect::<Vec<_>>().join(" ");
    let found: Vec<_> = provider_specific.iter().filter(|what| outside_quotes.contains(**what)).collect();
    assert!(found.is_empty(), "reconcile::status matches on the provider: {found:?}");
}
