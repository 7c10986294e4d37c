//! The import rule of STYLE.md ("Boundaries"), checked once for every
//! crate: a module imports only modules of a lower layer than its own (or
//! its own entry's files), and, where a crate asks for it, never one of its
//! ancestors and never through a circle. Each crate's layers are a table in
//! ARCHITECTURE.md, and each crate's architecture test reads that table and
//! its `src/` with this checker, so neither the document nor the code can
//! drift from the other, and the four crates cannot drift from one rule.
//!
//! Paths are read as the compiler resolves them: `crate::`, `super::` and
//! `self::`, groups (`super::{a, b::{c, d}}`), and names the crate root
//! re-exports (`crate::Error` is `error`'s).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What a crate's test asks beyond "only downward".
#[derive(Debug, Clone, Copy, Default)]
pub struct Rules {
    /// A module never imports one of its ancestors (a parent declares and
    /// uses its children, so a child that imports its parent closes a
    /// circle).
    pub no_ancestor_imports: bool,
    /// No two files import each other, however indirectly.
    pub no_circles: bool,
    /// Test code (`tests.rs`, and a file from its `#[cfg(test)]` on) and
    /// comment lines are read too: a test module's imports are held to the
    /// rule as well.
    pub read_tests_and_comments: bool,
}

/// One crate's layer table and modules, read from disk.
#[derive(Debug)]
pub struct Architecture {
    /// `entry -> layer`; an entry (`reconcile::build`) covers the files
    /// below it.
    pub layers: BTreeMap<String, u32>,
    /// Every library file's module path (`reconcile/build/mod.rs` is
    /// `reconcile::build`) and the code read from it.
    pub modules: BTreeMap<String, String>,
    /// Names the crate root re-exports (`Error`), and the module each comes
    /// from.
    reexports: BTreeMap<String, String>,
    /// Items the crate root defines itself (`lib.rs`): shared by all, below
    /// every module.
    root_items: BTreeSet<String>,
    rules: Rules,
}

impl Architecture {
    /// Reads the table that follows the markdown heading `heading` in
    /// `doc` (the rows `| layer | modules |` up to the next heading) and
    /// every `.rs` file under `crate_dir/src` except `main.rs`, `lib.rs`
    /// and `bin/`.
    pub fn read(doc: &Path, heading: &str, crate_dir: &Path, rules: Rules) -> Self {
        let doc = std::fs::read_to_string(doc).unwrap_or_else(|e| panic!("{}: {e}", doc.display()));
        let src = crate_dir.join("src");
        let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap_or_default();
        let modules = read_modules(&src, rules);
        let (reexports, root_items) = root_names(&code_of(&lib, rules));
        Architecture { layers: layers(&doc, heading), modules, reexports, root_items, rules }
    }

    /// Every import against the rules, and every module the table does not
    /// place, as sentences a reader can act on. Empty when the crate holds.
    pub fn violations(&self) -> Vec<String> {
        let (graph, mut violations) = self.graph();
        for (module, targets) in &graph {
            let Some((entry, layer)) = entry_of(module, &self.layers) else {
                violations.push(format!("{module}: ARCHITECTURE.md's table does not place it"));
                continue;
            };
            for target in targets {
                if is_ancestor(target, module) {
                    if self.rules.no_ancestor_imports {
                        violations.push(format!("{module} imports its ancestor `{target}`"));
                    }
                    continue;
                }
                match entry_of(target, &self.layers) {
                    Some((other, _)) if other == entry => {}
                    Some((_, l)) if l < layer => {}
                    Some((other, l)) => violations.push(format!(
                        "{module}: `{entry}` (layer {layer}) imports `{target}` of `{other}` (layer {l})"
                    )),
                    // Reported as that module's own problem above.
                    None => {}
                }
            }
        }
        if self.rules.no_circles
            && let Some(circle) = circle(&graph)
        {
            violations.push(format!("an import circle: {}", circle.join(" -> ")));
        }
        violations
    }

    /// Table entries that name no module of the crate (a renamed or removed
    /// module the document still shows).
    pub fn unknown_entries(&self) -> Vec<String> {
        self.layers.keys().filter(|m| !self.modules.contains_key(*m)).cloned().collect()
    }

    /// Panics unless the table was found (more than `at_least` entries: a
    /// heading renamed would otherwise check nothing) and every import
    /// holds: each crate's test is this one call.
    pub fn assert_held(&self, at_least: usize) {
        assert!(self.layers.len() > at_least, "the layer table was not found: {:?}", self.layers);
        let violations = self.violations();
        assert!(violations.is_empty(), "imports against ARCHITECTURE.md:\n{}", violations.join("\n"));
    }

    /// Panics if the table places a module the crate does not have.
    pub fn assert_every_entry_is_a_module(&self) {
        let unknown = self.unknown_entries();
        assert!(unknown.is_empty(), "ARCHITECTURE.md places modules that do not exist: {unknown:?}");
    }

    /// `module -> the modules it imports`, and the paths that resolve to
    /// nothing the crate has.
    fn graph(&self) -> (BTreeMap<String, BTreeSet<String>>, Vec<String>) {
        let mut graph = BTreeMap::new();
        let mut problems = Vec::new();
        for (module, source) in &self.modules {
            let mut edges = BTreeSet::new();
            // A file's inline test module is a child of the file's module:
            // its `super::` is the file's module, not the file's parent.
            let (code, tests) = source.split_once("#[cfg(test)]").unwrap_or((source, ""));
            let test_module = format!("{module}::tests");
            let paths = imported(module, code).into_iter().chain(imported(&test_module, tests));
            for path in paths {
                match self.module_of(&path) {
                    Some(target) if target == *module || is_ancestor(module, &target) => {}
                    Some(target) => {
                        edges.insert(target);
                    }
                    // The crate root, or an item it defines: below every module.
                    None if path.is_empty()
                        || self.root_items.contains(path.split("::").next().unwrap_or_default()) => {}
                    None => problems.push(format!("{module}: `{path}` names no module of the crate")),
                }
            }
            graph.insert(module.clone(), edges);
        }
        (graph, problems)
    }

    /// The module a path names or names an item of: its longest prefix that
    /// is a module, after the crate root's re-exports are followed.
    fn module_of(&self, path: &str) -> Option<String> {
        let segments: Vec<&str> = path.split("::").collect();
        let found = (1..=segments.len())
            .rev()
            .map(|n| segments[..n].join("::"))
            .find(|m| self.modules.contains_key(m));
        found.or_else(|| self.reexports.get(segments[0]).cloned())
    }
}

/// `entry -> layer`, from the table under `heading`.
fn layers(doc: &str, heading: &str) -> BTreeMap<String, u32> {
    let Some(section) = doc.split(heading).nth(1) else { return BTreeMap::new() };
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

fn read_modules(src: &Path, rules: Rules) -> BTreeMap<String, String> {
    let mut modules = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path: PathBuf = entry.expect("a directory entry").path();
            if path.is_dir() {
                if path != src.join("bin") {
                    dirs.push(path);
                }
                continue;
            }
            let relative = path.strip_prefix(src).expect("under src").to_string_lossy().replace('\\', "/");
            let Some(stem) = relative.strip_suffix(".rs") else { continue };
            let is_test = stem == "tests" || stem.ends_with("/tests");
            if ["main", "lib"].contains(&stem) || (is_test && !rules.read_tests_and_comments) {
                continue;
            }
            let module = stem.trim_end_matches("/mod").replace('/', "::");
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            modules.insert(module, code_of(&text, rules));
        }
    }
    modules
}

/// The code the rule reads: all of it, or without tests and comments.
fn code_of(text: &str, rules: Rules) -> String {
    if rules.read_tests_and_comments {
        return text.to_owned();
    }
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    code.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// What the crate root re-exports (`pub use error::{Error, Result}`: name
/// -> module) and what it defines itself (`fn`, `const`, ... at the root).
fn root_names(lib: &str) -> (BTreeMap<String, String>, BTreeSet<String>) {
    let mut reexports = BTreeMap::new();
    let mut items = BTreeSet::new();
    for statement in lib.split(';') {
        let statement = statement.trim();
        if let Some(used) = statement.strip_prefix("pub use ").or_else(|| statement.strip_prefix("use ")) {
            let mut paths = Vec::new();
            expand("", used.trim().trim_start_matches("crate::"), &mut paths);
            for path in paths {
                let segments: Vec<&str> = path.split("::").collect();
                if let [module, .., name] = segments[..] {
                    let name = name.split(" as ").last().unwrap_or(name).trim();
                    reexports.insert(name.to_owned(), module.to_owned());
                }
            }
        }
    }
    for line in lib.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let kinds = ["fn", "const", "static", "struct", "enum", "type", "trait"];
        if let Some(at) = words.iter().position(|w| kinds.contains(w))
            && words[..at].iter().all(|w| w.starts_with("pub"))
            && let Some(name) = words.get(at + 1)
        {
            items.insert(name.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect());
        }
    }
    (reexports, items)
}

/// Every path that starts with `crate::`, `super::` or `self::` in
/// `source`, as seen from `module`, made absolute (without `crate::`);
/// groups (`super::{a, b::{c, d}}`) give one path per leaf.
pub fn imported(module: &str, source: &str) -> Vec<String> {
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

/// One import circle of `graph`, if there is any.
pub fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let grouped = "use crate::{audit, db::{self, Db}, error::Result};\nlet x = crate::metrics::get();";
        assert_eq!(imported("api", grouped), ["audit", "db", "db::Db", "error::Result", "metrics::get"]);
    }

    #[test]
    fn a_circle_is_found() {
        let graph: BTreeMap<String, BTreeSet<String>> =
            [("a", &["b"][..]), ("b", &["c"][..]), ("c", &["a"][..]), ("d", &[][..])]
                .into_iter()
                .map(|(m, to)| (m.to_owned(), to.iter().map(|t| (*t).to_owned()).collect()))
                .collect();
        assert_eq!(circle(&graph).expect("a circle"), ["a", "b", "c", "a"]);
        let mut broken = graph.clone();
        broken.get_mut("c").expect("c").clear();
        assert_eq!(circle(&broken), None);
    }

    #[test]
    fn the_root_re_exports_lead_to_their_modules() {
        let lib = "mod error;\npub use error::{Error, Result};\npub use amount::Amount;\nconst PATTERN: &str = \"x\";\npub(crate) fn text_schema() {}";
        let (reexports, items) = root_names(lib);
        let pairs: Vec<_> = reexports.iter().map(|(n, m)| (n.as_str(), m.as_str())).collect();
        assert_eq!(pairs, [("Amount", "amount"), ("Error", "error"), ("Result", "error")]);
        assert_eq!(items.into_iter().collect::<Vec<_>>(), ["PATTERN", "text_schema"]);
    }

    #[test]
    fn the_table_is_read_under_its_heading_only() {
        let doc = "## One\n| layer | modules |\n|---|---|\n| 1 | `a` |\n## Two\n| layer | modules |\n|---|---|\n| 2 | `b`, `c::d` |\n| 0 | `e` |\n\n## Three\n| 9 | `z` |";
        let read: Vec<_> = layers(doc, "## Two").into_iter().collect();
        assert_eq!(read, [("b".to_owned(), 2), ("c::d".to_owned(), 2), ("e".to_owned(), 0)]);
    }
}
