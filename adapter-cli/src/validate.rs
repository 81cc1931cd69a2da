//! `concierge validate`: checks tenant files (`.toml`) and conversation specs (`.yaml`/`.yml`),
//! pointing at the line and field of each problem.

use std::path::Path;

use crate::error::read_text;
use crate::source::{check_tenant, Problem};
use crate::spec;

/// Checks one file; a spec's tenant file is checked too.
pub fn check_file(path: &Path) -> Vec<Problem> {
    let display = path.display().to_string();
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let problem = |message: String| Problem {
        file: display.clone(),
        line: None,
        column: None,
        field: None,
        message,
    };
    match extension.as_deref() {
        Some("toml") => match read_text(path) {
            Ok(text) => check_tenant(&display, &text).err().unwrap_or_default(),
            Err(e) => vec![problem(strip_prefix(&e.to_string(), &display))],
        },
        Some("yaml" | "yml") => match spec::load(path) {
            Ok(loaded) => {
                let tenant = loaded.tenant_path.display().to_string();
                match read_text(&loaded.tenant_path) {
                    Ok(text) => check_tenant(&tenant, &text).err().unwrap_or_default(),
                    Err(_) => vec![Problem {
                        field: Some("tenant".into()),
                        ..problem(format!("tenant file `{tenant}` cannot be read"))
                    }],
                }
            }
            Err(p) => vec![p],
        },
        _ => vec![problem(
            "unknown kind of file: tenant files end in .toml, specs in .yaml or .yml".into(),
        )],
    }
}

fn strip_prefix(message: &str, display: &str) -> String {
    message
        .strip_prefix(&format!("{display}: "))
        .unwrap_or(message)
        .to_owned()
}
