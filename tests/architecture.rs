//! The crate's structure, checked from its own sources (in the spirit of ArchUnit):
//!
//! - every module imports only from its own layer or the layers below it (`LAYERS`, the list
//!   ARCHITECTURE.md declares);
//! - no two modules (a file is a module: `optimizer/buffers.rs` is `optimizer::buffers`) import
//!   each other, directly or through others;
//! - no file in `src/` or `examples/` is over `MAX_FILE_LINES` lines and no function outside
//!   tests is over `MAX_FN_LINES` lines.
//!
//! An import is any `crate::…`, `super::…` or `self::…` path in code (grouped `use crate::{a, b::c}`
//! included; `muon_wgpu::…` in `src/bin`), resolved to the longest known module it names; a
//! crate-root re-export (`crate::Settings`) resolves to the module that defines it. A module's
//! `mod child;` declaration and its bare `child::…` paths are not imports: a parent owns its
//! children. Comments, strings and `#[cfg(test)]` modules are skipped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// The layers, bottom first: a module may import from its own layer and the ones before it.
const LAYERS: &[&[&str]] = &[
    // io::atomic_file is a leaf (it knows only `error`): the tuning cache writes through it.
    &["error", "shape", "shaders", "io::atomic_file"],
    &["settings"],
    &["gpu"],
    &["kernels"],
    &["optimizer"],
    &["reference", "io"],
    &["nn"],
    &["demo", "bench"],
    &["web", "distributed", "bin"],
    &[""], // lib.rs: declares every module and re-exports the public types.
];
const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 120;

/// One source file: its path (for messages), its module path (`optimizer::buffers`), its text.
struct File {
    path: String,
    module: String,
    text: String,
}

/// One import found in the sources.
#[derive(Clone, Debug)]
struct Import {
    path: String,
    line: usize,
    text: String,
    from: String,
    to: String,
}

// --- Lexing --------------------------------------------------------------------------------

/// The source with comments, string and char literals blanked (newlines kept, so lines match).
fn code_only(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |ch: char| if ch == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c[i] == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(c[i]));
                    i += 1;
                }
            }
        } else if c[i] == 'r' && matches!(next, Some('"' | '#')) && !ident_before(&c, i) {
            // A raw string r"…" or r#"…"# (r#ident is an identifier).
            let mut j = i + 1;
            while c.get(j) == Some(&'#') {
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                out.push(c[i]);
                i += 1;
                continue;
            }
            let hashes = j - i - 1;
            let mut k = j + 1;
            while k < c.len() && !(c[k] == '"' && (1..=hashes).all(|h| c.get(k + h) == Some(&'#')))
            {
                k += 1;
            }
            let end = (k + hashes + 1).min(c.len());
            out.extend(c[i..end].iter().map(|&ch| blank(ch)));
            i = end;
        } else if c[i] == '"' {
            out.push(' ');
            i += 1;
            while i < c.len() && c[i] != '"' {
                let skip = if c[i] == '\\' { 2 } else { 1 };
                for k in 0..skip {
                    if let Some(ch) = c.get(i + k) {
                        out.push(blank(*ch));
                    }
                }
                i += skip;
            }
            out.push(' ');
            i += 1;
        } else if c[i] == '\'' && (next == Some('\\') || c.get(i + 2) == Some(&'\'')) {
            // A char literal ('x' or '\n'); a lifetime ('a) has no closing quote.
            let mut j = i + 1;
            if next == Some('\\') {
                j += 2;
                while j < c.len() && c[j] != '\'' {
                    j += 1;
                }
            } else {
                j += 1;
            }
            out.extend(std::iter::repeat_n(' ', j + 1 - i));
            i = j + 1;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

fn ident_before(c: &[char], i: usize) -> bool {
    i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_')
}

/// The byte ranges of the `#[cfg(test)]` items (a `mod … { … }` block or a `mod …;` line).
fn test_ranges(code: &str) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut from = 0;
    while let Some(at) = code[from..].find("#[cfg(test)]").map(|a| a + from) {
        let rest = &code[at..];
        let (semi, brace) = (rest.find(';'), rest.find('{'));
        let end = match (semi, brace) {
            (Some(s), Some(b)) if s < b => at + s + 1,
            (_, Some(b)) => matching_brace(code, at + b).map_or(code.len(), |e| e + 1),
            (Some(s), None) => at + s + 1,
            (None, None) => code.len(),
        };
        ranges.push((at, end));
        from = end;
    }
    ranges
}

/// The index of the `}` closing the `{` at `open`.
fn matching_brace(code: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, b) in code.bytes().enumerate().skip(open) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn line_of(code: &str, at: usize) -> usize {
    code[..at].bytes().filter(|&b| b == b'\n').count() + 1
}

// --- Imports -------------------------------------------------------------------------------

/// Expands a use tree starting at `s` (`a::b`, `a::{b, c::d}`, `a::*`) into paths.
fn expand_tree(s: &str) -> Vec<String> {
    fn parse(s: &[u8], i: &mut usize, prefix: &str, out: &mut Vec<String>) {
        let mut path = prefix.to_string();
        loop {
            while *i < s.len() && s[*i].is_ascii_whitespace() {
                *i += 1;
            }
            if *i < s.len() && s[*i] == b'{' {
                *i += 1;
                loop {
                    parse(s, i, &path, out);
                    while *i < s.len() && (s[*i].is_ascii_whitespace() || s[*i] == b',') {
                        *i += 1;
                    }
                    if *i >= s.len() || s[*i] == b'}' {
                        *i += 1;
                        return;
                    }
                }
            }
            let start = *i;
            while *i < s.len() && (s[*i].is_ascii_alphanumeric() || s[*i] == b'_' || s[*i] == b'*')
            {
                *i += 1;
            }
            let seg = std::str::from_utf8(&s[start..*i]).unwrap();
            if seg.is_empty() {
                out.push(path);
                return;
            }
            if !path.is_empty() {
                path.push_str("::");
            }
            path.push_str(seg);
            if s[*i..].starts_with(b"::") {
                *i += 2;
            } else {
                out.push(path);
                return;
            }
        }
    }
    let mut out = Vec::new();
    parse(s.as_bytes(), &mut 0, "", &mut out);
    out
}

/// The module path a file holds: `src/optimizer/buffers.rs` → `optimizer::buffers`,
/// `src/gpu/mod.rs` → `gpu`, `src/lib.rs` → ``, `src/bin/x.rs` → `bin`.
fn module_of(path: &str) -> String {
    let rel = path.trim_start_matches("src/").trim_end_matches(".rs");
    if rel.starts_with("bin/") {
        return "bin".into();
    }
    let rel = rel.trim_end_matches("/mod").trim_end_matches("lib");
    rel.trim_end_matches('/').replace('/', "::")
}

/// The imports of every file, each resolved to the longest known module it names.
fn imports(files: &[File]) -> Vec<Import> {
    let modules: BTreeSet<&str> = files.iter().map(|f| f.module.as_str()).collect();
    let reexports = reexports(files);
    let mut found = Vec::new();
    for f in files {
        let code = code_only(&f.text);
        let tests = test_ranges(&code);
        let aliases = crate_aliases(&code, &f.module);
        let mut starts: Vec<(usize, &String)> = Vec::new();
        for a in &aliases {
            starts.extend(code.match_indices(&format!("{a}::")).map(|(i, _)| (i, a)));
        }
        starts.sort();
        for (i, word) in starts {
            let b = code.as_bytes();
            if (i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_' || b[i - 1] == b':'))
                || tests.iter().any(|&(s, e)| (s..e).contains(&i))
            {
                continue;
            }
            let base = base_module(word, &f.module, &code, i);
            let start = i + word.len() + 2;
            for p in expand_tree(&code[start..]) {
                let full = if base.is_empty() {
                    p.clone()
                } else {
                    format!("{base}::{p}")
                };
                let to = resolve(&full, &modules, &reexports);
                if to != f.module {
                    found.push(Import {
                        path: f.path.clone(),
                        line: line_of(&code, i),
                        text: format!("{word}::{p}"),
                        from: f.module.clone(),
                        to,
                    });
                }
            }
        }
    }
    found
}

/// The words that start a crate path in this file: `crate`, `super`, `self`, `muon_wgpu` in
/// `src/bin`, and any `use crate as x;` alias.
fn crate_aliases(code: &str, module: &str) -> Vec<String> {
    let mut words = vec!["crate".to_string(), "super".into(), "self".into()];
    if module == "bin" {
        words.push("muon_wgpu".into());
    }
    for (at, _) in code.match_indices("use crate as ") {
        let alias: String = code[at + 13..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        words.push(alias);
    }
    words
}

/// The module a path word stands for at byte `at` of a file of module `module`: `super` is the
/// parent of the enclosing (possibly inline) module.
fn base_module(word: &str, module: &str, code: &str, at: usize) -> String {
    let mut here: Vec<String> = module
        .split("::")
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    here.extend(inline_modules_at(code, at));
    match word {
        "super" => {
            here.pop();
            here.join("::")
        }
        "self" => here.join("::"),
        _ => String::new(),
    }
}

/// The names of the inline `mod name { … }` blocks that enclose byte `at`.
fn inline_modules_at(code: &str, at: usize) -> Vec<String> {
    let mut names = Vec::new();
    for (m, _) in code.match_indices("mod ") {
        if m > 0
            && (code.as_bytes()[m - 1].is_ascii_alphanumeric() || code.as_bytes()[m - 1] == b'_')
        {
            continue;
        }
        let name: String = code[m + 4..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let after = code[m + 4 + name.len()..].trim_start();
        if !after.starts_with('{') || m > at {
            continue;
        }
        let open = code.len() - after.len();
        if matching_brace(code, open).is_some_and(|close| close > at) {
            names.push(name);
        }
    }
    names
}

/// Every `pub use` of a module of the crate: `settings::Group` → `settings::routing::Group`
/// (`Settings` → `settings::Settings` for lib.rs), so that an import names the module that
/// defines the item, not the one that re-exports it.
fn reexports(files: &[File]) -> HashMap<String, String> {
    let mut map = HashMap::new();
    let modules: BTreeSet<&str> = files.iter().map(|f| f.module.as_str()).collect();
    let join = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            format!("{a}::{b}")
        }
    };
    for f in files {
        let code = code_only(&f.text);
        let tests = test_ranges(&code);
        for (at, _) in code.match_indices("pub use ") {
            if tests.iter().any(|&(s, e)| (s..e).contains(&at)) {
                continue;
            }
            for p in expand_tree(&code[at + 8..]) {
                let target = if let Some(rest) = p.strip_prefix("crate::") {
                    rest.to_string()
                } else if let Some(rest) = p.strip_prefix("self::") {
                    join(&f.module, rest)
                } else if let Some(rest) = p.strip_prefix("super::") {
                    join(f.module.rsplit_once("::").map_or("", |(a, _)| a), rest)
                } else if modules.contains(join(&f.module, p.split("::").next().unwrap()).as_str())
                {
                    join(&f.module, &p)
                } else {
                    continue; // another crate's item
                };
                let name = p.rsplit("::").next().unwrap_or("");
                map.insert(join(&f.module, name), target);
            }
        }
    }
    map
}

/// The module that defines what `path` (from the crate root) names: re-exports followed, then
/// the longest module prefix.
fn resolve(path: &str, modules: &BTreeSet<&str>, reexports: &HashMap<String, String>) -> String {
    let mut path = path.to_string();
    for _ in 0..8 {
        let segs: Vec<&str> = path.split("::").collect();
        let hop = (1..=segs.len()).rev().find_map(|n| {
            let target = reexports.get(&segs[..n].join("::"))?;
            Some(
                [target.as_str()]
                    .into_iter()
                    .chain(segs[n..].iter().copied())
                    .collect::<Vec<_>>()
                    .join("::"),
            )
        });
        match hop {
            Some(next) if next != path => path = next,
            _ => break,
        }
    }
    let segs: Vec<&str> = path.split("::").collect();
    (1..=segs.len())
        .rev()
        .map(|n| segs[..n].join("::"))
        .find(|prefix| modules.contains(prefix.as_str()))
        .unwrap_or_default()
}

// --- Rules ---------------------------------------------------------------------------------

/// The layer of the longest entry of `LAYERS` that `module` is or is inside of.
fn layer_of(module: &str) -> usize {
    let inside = |entry: &str| {
        module == entry || entry.is_empty() || module.starts_with(&format!("{entry}::"))
    };
    let best = (LAYERS.iter().enumerate())
        .flat_map(|(i, l)| l.iter().map(move |e| (i, *e)))
        .filter(|(_, e)| inside(e) && (!e.is_empty() || module.is_empty()))
        .max_by_key(|(_, e)| e.len());
    match best {
        Some((i, _)) => i,
        None => panic!("module `{module}` has no layer: add it to LAYERS and ARCHITECTURE.md"),
    }
}

/// Every violation of the layer order and every cycle, one message each.
fn check_imports(files: &[File]) -> Vec<String> {
    let imports = imports(files);
    let mut problems = Vec::new();
    for i in &imports {
        let (lf, lt) = (layer_of(&i.from), layer_of(&i.to));
        if lt > lf {
            problems.push(format!(
                "{}:{}: `{}` imports `{}`: module `{}` (layer {lf}) may not import `{}` (layer {lt})",
                i.path, i.line, i.from, i.text, i.from, i.to
            ));
        }
    }
    let mut graph: BTreeMap<&str, BTreeMap<&str, &Import>> = BTreeMap::new();
    for i in &imports {
        graph.entry(&i.from).or_default().entry(&i.to).or_insert(i);
    }
    for cycle in cycles(&graph) {
        let mut msg = format!("import cycle: {}", cycle.join(" → "));
        for w in cycle.windows(2) {
            let i = graph[w[0]][w[1]];
            msg.push_str(&format!("\n    {}:{}: `{}`", i.path, i.line, i.text));
        }
        problems.push(msg);
    }
    problems
}

/// One cycle (first node repeated at the end) per strongly connected component of size > 1.
fn cycles<'a>(graph: &BTreeMap<&'a str, BTreeMap<&'a str, &Import>>) -> Vec<Vec<&'a str>> {
    let mut found = Vec::new();
    let mut done: BTreeSet<&str> = BTreeSet::new();
    for &start in graph.keys() {
        if done.contains(start) {
            continue;
        }
        // Shortest path back to `start` (breadth first), if any.
        let mut prev: HashMap<&str, &str> = HashMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut back = None;
        while let Some(n) = queue.pop_front() {
            for &m in graph.get(n).into_iter().flat_map(|e| e.keys()) {
                if m == start {
                    back = Some(n);
                    break;
                }
                if !prev.contains_key(m) {
                    prev.insert(m, n);
                    queue.push_back(m);
                }
            }
            if back.is_some() {
                break;
            }
        }
        if let Some(mut n) = back {
            let mut cycle = vec![start, n];
            while n != start {
                n = prev[n];
                cycle.push(n);
            }
            cycle.reverse();
            done.extend(cycle.iter().copied());
            found.push(cycle);
        }
    }
    found
}

/// Files over `MAX_FILE_LINES` lines and functions outside tests over `MAX_FN_LINES` lines.
fn check_sizes(files: &[File]) -> Vec<String> {
    let mut problems = Vec::new();
    for f in files {
        let lines = f.text.lines().count();
        if lines > MAX_FILE_LINES {
            problems.push(format!(
                "{}: {lines} lines (at most {MAX_FILE_LINES})",
                f.path
            ));
        }
        let code = code_only(&f.text);
        let tests = test_ranges(&code);
        for (at, _) in code.match_indices("fn ") {
            let b = code.as_bytes();
            if (at > 0 && (b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_'))
                || tests.iter().any(|&(s, e)| (s..e).contains(&at))
            {
                continue;
            }
            let Some(open) = body_start(&code, at) else {
                continue;
            };
            let Some(close) = matching_brace(&code, open) else {
                continue;
            };
            let n = line_of(&code, close) - line_of(&code, at) + 1;
            if n > MAX_FN_LINES {
                let name: String = code[at + 3..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                problems.push(format!(
                    "{}:{}: fn {name} is {n} lines (at most {MAX_FN_LINES})",
                    f.path,
                    line_of(&code, at)
                ));
            }
        }
    }
    problems
}

/// The `{` opening the body of the fn at `at` (None for a declaration ending in `;`).
fn body_start(code: &str, at: usize) -> Option<usize> {
    let mut paren = 0i32;
    for (i, b) in code.bytes().enumerate().skip(at) {
        match b {
            b'(' | b'[' | b'<' => paren += 1,
            b')' | b']' => paren -= 1,
            b'>' if code.as_bytes()[i - 1] != b'-' => paren -= 1,
            b'{' if paren <= 0 => return Some(i),
            b';' if paren <= 0 => return None,
            _ => {}
        }
    }
    None
}

// --- Reading the crate ---------------------------------------------------------------------

fn read_tree(dir: &Path, out: &mut Vec<File>, module: fn(&str) -> String) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            read_tree(&p, out, module);
        } else if p.extension().is_some_and(|e| e == "rs") {
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            let path = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push(File {
                module: module(&path),
                text: std::fs::read_to_string(&p).unwrap(),
                path,
            });
        }
    }
}

/// The crate's files, less those only compiled for tests (`#[cfg(test)] mod x;`).
fn crate_files() -> Vec<File> {
    let mut files = Vec::new();
    read_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
        module_of,
    );
    let mut test_modules = BTreeSet::new();
    for f in &files {
        let code = code_only(&f.text);
        for (a, b) in test_ranges(&code) {
            let item = &code[a..b];
            if let Some(m) = item.find("mod ").filter(|_| item.trim_end().ends_with(';')) {
                let name: String = item[m + 4..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                test_modules.insert(
                    format!("{}::{name}", f.module)
                        .trim_start_matches("::")
                        .to_string(),
                );
            }
        }
    }
    files.retain(|f| !test_modules.contains(&f.module));
    files
}

#[test]
fn modules_import_downwards_and_never_in_a_circle() {
    let problems = check_imports(&crate_files());
    assert!(
        problems.is_empty(),
        "{} import problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn no_file_over_600_lines_and_no_function_over_120() {
    let mut files = crate_files();
    read_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"),
        &mut files,
        |_| String::new(),
    );
    let problems = check_sizes(&files);
    assert!(
        problems.is_empty(),
        "{} too big:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_checker_reports_a_cycle_and_an_upward_import() {
    let file = |path: &str, text: &str| File {
        path: path.into(),
        module: module_of(path),
        text: text.into(),
    };
    let files = [
        file(
            "src/lib.rs",
            "pub mod gpu;\npub mod settings;\npub use gpu::GpuContext;\n",
        ),
        // Upward: settings (layer 1) names gpu (layer 2) through the root re-export.
        file(
            "src/settings/mod.rs",
            "use crate::{error::Error, GpuContext};\n",
        ),
        // A cycle through a grouped import and a super:: path.
        file("src/gpu/mod.rs", "mod a;\nmod b;\npub struct GpuContext;\n"),
        file(
            "src/gpu/a.rs",
            "use super::{b::{B, Other}, GpuContext};\n// use crate::settings;\n",
        ),
        file(
            "src/gpu/b.rs",
            "fn f() { let s = \"crate::gpu::x\"; crate::gpu::a::A::new(); }\n",
        ),
        file("src/error.rs", "pub struct Error;\n"),
        file(
            "src/shape.rs",
            "#[cfg(test)]\nmod tests {\n    use crate::gpu::a;\n}\n",
        ),
    ];
    let problems = check_imports(&files);
    let text = problems.join("\n");
    assert!(
        text.contains("src/settings/mod.rs:1: `settings` imports `crate::GpuContext`"),
        "{text}"
    );
    assert!(
        text.contains("import cycle: gpu::a → gpu::b → gpu::a"),
        "{text}"
    );
    assert!(
        text.contains("src/gpu/b.rs:1: `crate::gpu::a::A::new`"),
        "{text}"
    );
    // Comments, strings and test modules are not imports; a child naming its parent is no cycle.
    assert_eq!(problems.len(), 2, "{text}");

    let long = format!(
        "fn big() {{\n{}}}\n#[cfg(test)]\nmod tests {{ fn t() {{\n{}}} }}\n",
        "x;\n".repeat(130),
        "x;\n".repeat(130)
    );
    let sizes = check_sizes(&[file("src/shape.rs", &long)]);
    assert_eq!(sizes, ["src/shape.rs:1: fn big is 132 lines (at most 120)"]);
}
