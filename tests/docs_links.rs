//! Every relative link and anchor in `README.md`, `ARCHITECTURE.md` and `docs/**/*.md` resolves:
//! the file (or folder) exists, and `file.md#heading` / `#heading` names a heading of that file
//! under GitHub's slug rules (lowercase; spaces to `-`; other punctuation than `-` and `_`
//! dropped; a repeated slug gets `-1`, `-2`, …). External `http(s)` and `mailto` links are not
//! fetched: the test needs no network and no tool beyond cargo.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

/// A link that does not resolve: the page, its line, the target and why.
#[derive(Debug, PartialEq)]
struct Broken {
    page: PathBuf,
    line: usize,
    target: String,
    why: String,
}

/// The lines of a page outside fenced code blocks, with their 1-based numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<String> = None;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker: String = trimmed
            .chars()
            .take_while(|&c| c == '`' || c == '~')
            .collect();
        if marker.len() >= 3 && marker.chars().all(|c| c == marker.chars().next().unwrap()) {
            match &fence {
                None => fence = Some(marker),
                // A fence closes with at least as many of the same character.
                Some(open) if marker.starts_with(open.as_str()) => fence = None,
                Some(_) => {}
            }
            continue;
        }
        if fence.is_none() {
            out.push((i + 1, line));
        }
    }
    out
}

/// The line with its inline code spans removed, so that `[a](b)` inside backticks is no link.
fn without_code_spans(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        let ticks = rest[start..].chars().take_while(|&c| c == '`').count();
        let after = &rest[start + ticks..];
        let closing = "`".repeat(ticks);
        match after.find(&closing) {
            Some(end) => {
                out.push_str(&rest[..start]);
                out.push_str("code");
                rest = &after[end + ticks..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    out
}

/// The targets of inline links and images (`[text](target "title")`), reference definitions
/// (`[label]: target`) and HTML `href` / `src` attributes on one line of prose.
fn link_targets(line: &str) -> Vec<String> {
    let line = without_code_spans(line);
    let mut targets = Vec::new();
    let mut from = 0;
    while let Some(found) = line[from..].find("](") {
        let start = from + found + 2;
        let mut depth = 0usize;
        let mut end = None;
        for (i, c) in line[start..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 => {
                    end = Some(start + i);
                    break;
                }
                ')' => depth -= 1,
                _ => {}
            }
        }
        let Some(end) = end else { break };
        targets.push(strip_title(&line[start..end]));
        from = end;
    }
    let trimmed = line.trim_start();
    if trimmed.starts_with('[') && !trimmed.starts_with("[^") {
        if let Some(close) = trimmed
            .find(']')
            .filter(|&c| trimmed[c + 1..].starts_with(':'))
        {
            targets.push(strip_title(&trimmed[close + 2..]));
        }
    }
    for attribute in ["href=\"", "src=\""] {
        let mut rest = line.as_str();
        while let Some(at) = rest.find(attribute) {
            let value = &rest[at + attribute.len()..];
            let Some(end) = value.find('"') else { break };
            targets.push(value[..end].to_string());
            rest = &value[end..];
        }
    }
    targets.retain(|t| !t.is_empty());
    targets
}

/// `<target> "title"` or `target 'title'` → `target`.
fn strip_title(raw: &str) -> String {
    let raw = raw.trim();
    if let Some(inner) = raw.strip_prefix('<') {
        return inner.split('>').next().unwrap_or("").to_string();
    }
    raw.split_whitespace().next().unwrap_or("").to_string()
}

/// GitHub's anchor of a heading's text: inline markup dropped, lowercase, spaces to `-`, and
/// every character that is not a letter, a digit, `-` or `_` removed.
fn slug(heading: &str) -> String {
    let mut text = String::new();
    let mut rest = heading;
    // A link in a heading contributes its text only.
    while let Some(open) = rest.find('[') {
        let Some(mid) = rest[open..].find("](") else {
            break;
        };
        let Some(close) = rest[open + mid..].find(')') else {
            break;
        };
        text.push_str(&rest[..open]);
        text.push_str(&rest[open + 1..open + mid]);
        rest = &rest[open + mid + close + 1..];
    }
    text.push_str(rest);
    text.trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Every anchor a page offers: its ATX headings' slugs (numbered when repeated) and explicit
/// `id="…"` / `name="…"` attributes.
fn anchors(text: &str) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for (_, line) in prose_lines(text) {
        let trimmed = line.trim_start();
        let level = trimmed.chars().take_while(|&c| c == '#').count();
        if (1..=6).contains(&level) && trimmed[level..].starts_with([' ', '\t']) {
            let title = trimmed[level..].trim().trim_end_matches('#').trim();
            let base = slug(title);
            let count = seen.entry(base.clone()).or_insert(0);
            out.push(if *count == 0 {
                base.clone()
            } else {
                format!("{base}-{count}")
            });
            *count += 1;
        }
        for attribute in ["id=\"", "name=\""] {
            let mut rest = line;
            while let Some(at) = rest.find(attribute) {
                let value = &rest[at + attribute.len()..];
                let Some(end) = value.find('"') else { break };
                out.push(value[..end].to_string());
                rest = &value[end..];
            }
        }
    }
    out
}

/// `%20` and the like in a link's path.
fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        if let Some(b) = hex
            .filter(|_| bytes[i] == b'%')
            .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Checks every relative link of `pages`; anchors are read from whichever Markdown file a
/// link names, checked or not.
fn check(pages: &[PathBuf]) -> Vec<Broken> {
    let mut broken = Vec::new();
    let mut anchor_cache: HashMap<PathBuf, Vec<String>> = HashMap::new();
    let mut anchors_of = |path: &Path| -> Vec<String> {
        (anchor_cache.entry(path.to_path_buf()))
            .or_insert_with(|| anchors(&fs::read_to_string(path).unwrap_or_default()))
            .clone()
    };
    for page in pages {
        let text = fs::read_to_string(page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
        let dir = page.parent().unwrap_or(Path::new("."));
        for (line, content) in prose_lines(&text) {
            for target in link_targets(content) {
                let lower = target.to_ascii_lowercase();
                if ["http://", "https://", "mailto:"]
                    .iter()
                    .any(|p| lower.starts_with(p))
                {
                    continue;
                }
                let report = |why: String| Broken {
                    page: page.clone(),
                    line,
                    target: target.clone(),
                    why,
                };
                let (path, anchor) = match target.split_once('#') {
                    Some((path, anchor)) => (path, Some(anchor)),
                    None => (target.as_str(), None),
                };
                let file = if path.is_empty() {
                    page.clone()
                } else if path.starts_with('/') || path.contains("://") {
                    broken.push(report("not a relative link".into()));
                    continue;
                } else {
                    dir.join(percent_decode(path))
                };
                if !file.exists() {
                    broken.push(report(format!("{} does not exist", file.display())));
                    continue;
                }
                let Some(anchor) = anchor else { continue };
                let is_markdown = file.extension().is_some_and(|e| e == "md");
                if !is_markdown {
                    broken.push(report("an anchor into a file that is not Markdown".into()));
                } else if !anchors_of(&file).iter().any(|a| a == anchor) {
                    broken.push(report(format!(
                        "no heading of {} has the anchor",
                        file.display()
                    )));
                }
            }
        }
    }
    broken
}

/// `dir`'s Markdown files, at any depth, in a stable order.
fn markdown_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = (fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display())))
    .map(|e| e.unwrap().path())
    .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            // mdBook's build output, when someone built the book here.
            if path.file_name().is_some_and(|n| n == "book") && path.parent() == Some(dir) {
                continue;
            }
            out.extend(markdown_under(&path));
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
    out
}

#[test]
fn every_relative_link_and_anchor_of_the_documentation_resolves() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    pages.extend(markdown_under(&root.join("docs")));
    assert!(
        pages.len() > 5,
        "the book under docs/ is missing: {pages:?}"
    );
    let broken = check(&pages);
    let lines: Vec<String> = (broken.iter())
        .map(|b| format!("{}:{}: {} ({})", b.page.display(), b.line, b.target, b.why))
        .collect();
    assert!(
        broken.is_empty(),
        "{} broken links:\n{}",
        broken.len(),
        lines.join("\n")
    );
}

#[test]
fn the_checker_reports_a_missing_file_and_a_missing_anchor() {
    let dir = std::env::temp_dir().join(format!("muon-wgpu-docs-links-{}", std::process::id()));
    fs::create_dir_all(dir.join("sub")).unwrap();
    let page = dir.join("page.md");
    fs::write(
        &page,
        "# Top\n\n## A `code` heading: with punctuation!\n\n## Top\n\n\
         [ok](sub/other.md) [ok](sub/other.md#other-page) [ok](#top) [ok](#top-1)\n\
         [ok](#a-code-heading-with-punctuation) [ok](https://example.com/missing.md)\n\
         `[not a link](missing-in-code.md)`\n\n```text\n[not a link](missing-in-fence.md)\n```\n\n\
         [bad](missing.md) [bad](sub/other.md#nope)\n[bad](#nowhere) ![bad](img/none.png)\n",
    )
    .unwrap();
    fs::write(
        dir.join("sub/other.md"),
        "# Other page\n\n[ok](../page.md#top)\n",
    )
    .unwrap();
    let pages = [page.clone(), dir.join("sub/other.md")];
    let found: Vec<(usize, String)> = check(&pages)
        .into_iter()
        .map(|b| (b.line, b.target))
        .collect();
    fs::remove_dir_all(&dir).unwrap();
    let expected = [
        (15, "missing.md"),
        (15, "sub/other.md#nope"),
        (16, "#nowhere"),
        (16, "img/none.png"),
    ];
    let expected: Vec<(usize, String)> =
        expected.iter().map(|(l, t)| (*l, t.to_string())).collect();
    assert_eq!(found, expected);
}

#[test]
fn slugs_follow_github() {
    assert_eq!(
        slug("Keras' base optimizer options (every preset)"),
        "keras-base-optimizer-options-every-preset"
    );
    assert_eq!(
        slug("Cold start: compiling the kernels"),
        "cold-start-compiling-the-kernels"
    );
    assert_eq!(
        slug("optax's `scale_by_muon` options"),
        "optaxs-scale_by_muon-options"
    );
    assert_eq!(
        slug("Figures (lavapipe, 2026-11-22)"),
        "figures-lavapipe-2026-11-22"
    );
    assert_eq!(slug("[Link](x.md) in a heading"), "link-in-a-heading");
}
