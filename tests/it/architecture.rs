//! The layering of docs/architecture.md, checked on the source text: a forbidden
//! import fails here before review. Test modules (`#[cfg(test)]` to the end of a
//! file) are left out: they may build what they test from any layer.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, as (path relative to `src/`, library text).
fn sources(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                // `foo_tests.rs` is the test module of `foo.rs`, included under cfg(test).
                && !path.to_string_lossy().ends_with("_tests.rs")
            {
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, library_text(&std::fs::read_to_string(&path).unwrap())));
            }
        }
    }
    out.sort();
    out
}

/// The text before the first `#[cfg(test)]`, without `//` comments.
fn library_text(text: &str) -> String {
    let cut = text.find("#[cfg(test)]").unwrap_or(text.len());
    text[..cut]
        .lines()
        .map(|l| match l.find("//") {
            // A `//` inside a string (a URL) is kept: only whole-line comments go.
            Some(i) if l[..i].trim().is_empty() => "",
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every crate path the text names, braces of `use` groups expanded one level:
/// `crate::store::cases`, `crate::app::moves`, ….
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let item = item.trim();
                if !item.is_empty() {
                    out.insert(format!("crate::{}", path_prefix(item)));
                }
            }
        } else {
            out.insert(format!("crate::{}", path_prefix(after)));
        }
        rest = after;
    }
    out
}

fn path_prefix(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(s.len());
    s[..end].trim_end_matches(':')
}

/// Whether `path` is `module` or inside it.
fn within(path: &str, module: &str) -> bool {
    path == module || path.starts_with(&format!("{module}::"))
}

const SQL: &[&str] = &[
    "\"SELECT ",
    "\"INSERT INTO",
    "\"UPDATE ",
    "\"DELETE FROM",
    "\"CREATE TABLE",
    "\"ALTER TABLE",
    "sqlx::query",
];

/// The rules, as (file, what it names, why it may not).
fn violations(files: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (file, text) in files {
        let top = file.split('/').next().unwrap_or("");
        let top = top.trim_end_matches(".rs");
        let paths = crate_paths(text);
        let mut forbid = |modules: &[&str], why: &str| {
            for p in &paths {
                if let Some(m) = modules.iter().find(|m| within(p, m)) {
                    out.push(format!("{file}: {p} ({why}: {m})"));
                }
            }
        };
        match top {
            "domain" => {
                for p in &paths {
                    if !within(p, "crate::domain") {
                        out.push(format!("{file}: {p} (domain imports only domain)"));
                    }
                }
                for io in ["axum::", "sqlx::", "tokio::", "reqwest::"] {
                    if text.contains(io) {
                        out.push(format!("{file}: {io} (domain does no I/O)"));
                    }
                }
            }
            "desk" | "web" => {
                forbid(&["crate::store"], "a door reads and writes through app");
                if text.contains("sqlx::") {
                    out.push(format!("{file}: sqlx (a door holds no database handle)"));
                }
            }
            "app" => forbid(
                &[
                    "crate::desk",
                    "crate::web",
                    "crate::federation::server",
                    "crate::federation::receive",
                    "crate::federation::peer",
                    "crate::serve",
                    "crate::cli",
                ],
                "the core imports no door",
            ),
            "protocol" => forbid(&["crate::store"], "wire types know no database"),
            _ => {}
        }
        if top != "store" {
            for sql in SQL {
                if text.contains(sql) {
                    out.push(format!("{file}: {sql} (SQL lives in store)"));
                }
            }
        }
    }
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn layers_import_only_what_docs_architecture_allows() {
    let files = sources(&src());
    assert!(files.len() > 50, "read the source tree");
    let found = violations(&files);
    assert!(found.is_empty(), "forbidden imports:\n{}", found.join("\n"));
}

#[test]
fn the_check_catches_each_kind_of_forbidden_import() {
    let planted = [
        ("domain/x.rs", "use crate::store::cases;"),
        ("domain/y.rs", "async fn f() { tokio::spawn(async {}); }"),
        ("desk/x.rs", "use crate::{app, store::outbox};"),
        (
            "web/x.rs",
            "let rows = crate::store::cases::list(&mut conn);",
        ),
        ("app/x.rs", "use crate::desk::ApiError;"),
        ("app/y.rs", "use crate::federation::server::router;"),
        ("protocol/x.rs", "use crate::store::StoreError;"),
        ("cli/x.rs", r#"sqlx::query("SELECT 1")"#),
    ];
    let files: Vec<(String, String)> = planted
        .iter()
        .map(|(f, t)| ((*f).to_owned(), library_text(t)))
        .collect();
    let found = violations(&files);
    for (file, _) in &planted {
        assert!(
            found.iter().any(|v| v.starts_with(file)),
            "{file} not caught: {found:?}"
        );
    }
    let allowed = [
        (
            "app/x.rs",
            "use crate::store::cases;\nuse crate::federation::client;",
        ),
        (
            "desk/x.rs",
            "use crate::app::case_view;\n// crate::store in a comment",
        ),
        (
            "web/x.rs",
            "use crate::app::moves;\n#[cfg(test)]\nuse crate::store::Store;",
        ),
        ("store/x.rs", r#"sqlx::query("SELECT 1")"#),
    ];
    let files: Vec<(String, String)> = allowed
        .iter()
        .map(|(f, t)| ((*f).to_owned(), library_text(t)))
        .collect();
    assert_eq!(violations(&files), Vec::<String>::new());
}

/// docs/architecture.md's codemap names every top-level file and folder of `src/`
/// and every file of the core, so "where is X" is one hop.
#[test]
fn the_codemap_names_every_top_level_file_and_folder() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/architecture.md"))
            .unwrap();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(src()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let shown = if path.is_dir() {
            format!("`src/{name}/`")
        } else {
            format!("`src/{name}`")
        };
        if !doc.contains(&shown) {
            missing.push(shown);
        }
    }
    for entry in std::fs::read_dir(src().join("app")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        let stem = name.trim_end_matches(".rs");
        if stem != "mod" && !doc.contains(&format!("`{stem}`")) {
            missing.push(format!("app/{name}"));
        }
    }
    assert!(missing.is_empty(), "not in the codemap: {missing:?}");
}
