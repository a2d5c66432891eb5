//! The layering rules, checked on the sources: the sans-IO core knows nothing of
//! JavaScript, and the runtime's modules import each other in one direction only.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

#[test]
fn the_core_knows_nothing_of_javascript() {
    for file in sources(&src().join("sansio")) {
        let text = fs::read_to_string(&file).unwrap();
        for banned in [
            "wasm_bindgen",
            "js_sys",
            "web_sys",
            "crate::runtime",
            "gloo_timers",
        ] {
            assert!(
                !text.contains(banned),
                "{} mentions {banned}",
                file.display()
            );
        }
    }
}

/// The runtime modules a runtime module imports (`super::name` in `runtime/*.rs` and
/// `runtime/boundary/mod.rs`; test code excluded).
fn runtime_imports() -> BTreeMap<String, BTreeSet<String>> {
    let runtime = src().join("runtime");
    let mut files: Vec<(String, PathBuf)> = fs::read_dir(&runtime)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), p))
        .filter(|(name, _)| name != "mod" && name != "tests")
        .collect();
    files.push(("boundary".into(), runtime.join("boundary").join("mod.rs")));
    let mut graph = BTreeMap::new();
    for (name, path) in files {
        let text = fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let mut deps = BTreeSet::new();
        for (i, _) in code.match_indices("super::") {
            let rest = &code[i + "super::".len()..];
            let dep: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !dep.is_empty() && dep != name {
                deps.insert(dep);
            }
        }
        graph.insert(name, deps);
    }
    graph
}

#[test]
fn runtime_modules_import_each_other_in_one_direction() {
    let graph = runtime_imports();
    assert!(graph.len() >= 10, "{graph:?}");
    // Depth-first search for a cycle.
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if done.contains(node) {
            return;
        }
        assert!(!path.contains(&node), "import cycle: {path:?} -> {node}");
        path.push(node);
        for dep in graph.get(node).into_iter().flatten() {
            visit(dep, graph, path, done);
        }
        path.pop();
        done.insert(node);
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, &graph, &mut Vec::new(), &mut done);
    }
    // The driver reaches the core's flows for the tunnel handshake, never the other way.
    assert!(graph["tunnel"].contains("flows"));
    assert!(!graph["flows"].contains("tunnel"));
    assert!(!graph["tunnel"].contains("client"));
}
