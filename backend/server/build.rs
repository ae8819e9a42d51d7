//! Embeds `frontend/public/` as it is in git (assets at fixed paths; `src/static_files.rs` puts
//! them under their content hash at start) when the `embed-frontend` feature is on, and records
//! the git revision for `build_info`.

use std::env;
use std::fmt::Write;
use std::fs;
use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    // Names starting with a dot are no part of the page (src/static_files.rs skips them too).
    let mut entries: Vec<_> = entries
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    let manifest =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut code = String::from("/// Files of `frontend/public/`, by URL path.\npub static EMBEDDED: &[(&str, &[u8])] = &[\n");
    if env::var_os("CARGO_FEATURE_EMBED_FRONTEND").is_some() {
        let public = manifest.join("../../frontend/public");
        println!("cargo:rerun-if-changed={}", public.display());
        let mut files = Vec::new();
        walk(&public, &mut files);
        for file in files {
            let rel = file.strip_prefix(&public).expect("walked under public");
            let url = format!("/{}", rel.to_string_lossy().replace('\\', "/"));
            let abs = file.canonicalize().expect("file exists");
            let _ = writeln!(
                code,
                "    ({url:?}, include_bytes!({:?})),",
                abs.display().to_string()
            );
        }
    }
    code.push_str("];\n");
    fs::write(out_dir.join("frontend_assets.rs"), code).expect("write the asset table");

    println!("cargo:rerun-if-env-changed=SOURCE_REVISION");
    let revision = match env::var("SOURCE_REVISION").ok().filter(|s| !s.is_empty()) {
        Some(r) => Some(r),
        None => {
            watch_git_head(&manifest);
            git(&manifest, &["rev-parse", "--short=12", "HEAD"])
        }
    };
    println!(
        "cargo:rustc-env=HMG_REVISION={}",
        revision.unwrap_or_else(|| "unknown".into())
    );
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// Reruns this script when the checked-out commit moves. Once any `rerun-if-changed` is printed
/// cargo watches only the named paths, so without these a commit that changes no embedded file
/// kept the previous revision in `build_info`. Only paths that exist: a missing one reruns always.
fn watch_git_head(dir: &Path) {
    let mut names = vec!["HEAD".to_string(), "packed-refs".to_string()];
    names.extend(git(dir, &["symbolic-ref", "-q", "HEAD"]));
    for name in names {
        let path = git(
            dir,
            &["rev-parse", "--path-format=absolute", "--git-path", &name],
        );
        if let Some(path) = path.filter(|p| Path::new(p).exists()) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
