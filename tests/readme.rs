//! README.md's endpoint table is generated from `docs/openapi.json`, the spec `web_api.rs` keeps
//! equal to the routes the server defines, so the table cannot drift from the server again.
//! After changing routes: `COMMWATCH_WRITE_README=1 cargo test --test readme` rewrites it.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;

const BEGIN: &str = "<!-- endpoints: generated from docs/openapi.json by tests/readme.rs -->\n";
const END: &str = "<!-- endpoints: end -->\n";

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One row per path, in path order: its methods and what each does.
fn table(spec: &Value) -> String {
    let mut out = String::from("| method | path | what |\n|---|---|---|\n");
    for (path, ops) in spec["paths"].as_object().unwrap() {
        let ops: Vec<(String, String)> = ops
            .as_object()
            .unwrap()
            .iter()
            .map(|(m, o)| {
                let summary = o["summary"].as_str().unwrap_or_else(|| {
                    panic!(
                        "{} {path} has no summary in docs/openapi.json",
                        m.to_uppercase()
                    )
                });
                (m.to_uppercase(), summary.replace('|', "\\|"))
            })
            .collect();
        let methods: Vec<String> = ops.iter().map(|(m, _)| format!("`{m}`")).collect();
        let what = if ops.len() == 1 {
            ops[0].1.clone()
        } else {
            ops.iter()
                .map(|(m, s)| format!("{m}: {s}"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        out.push_str(&format!("| {} | `{path}` | {what} |\n", methods.join(" ")));
    }
    out
}

#[test]
fn the_readme_endpoint_table_is_the_specs() {
    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("docs/openapi.json")).unwrap())
            .unwrap();
    let want = table(&spec);
    let path = root().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme
        .find(BEGIN)
        .expect("README.md has the endpoint table's begin marker")
        + BEGIN.len();
    let end = start + readme[start..].find(END).expect("and its end marker");
    if readme[start..end] == want {
        return;
    }
    if std::env::var_os("COMMWATCH_WRITE_README").is_some() {
        let new = format!("{}{want}{}", &readme[..start], &readme[end..]);
        std::fs::write(&path, new).unwrap();
        return;
    }
    panic!(
        "README.md's endpoint table differs from docs/openapi.json; rewrite it with\n  \
         COMMWATCH_WRITE_README=1 cargo test --test readme\nwanted:\n{want}"
    );
}
