//! The web game's files: embedded at build time (feature `embed-frontend`), or read once at start
//! from `FRONTEND_DIR`. In git the assets sit at fixed paths (`static/js/main.js`); they are served
//! under `/static/<version>/`, a content hash computed here at start, and `index.html` is rewritten
//! to name it. `frontend/asset-version.mjs` computes the same for the nginx image; the e2e and
//! container tests check that both agree. One cache policy: the page revalidates, versioned assets
//! are immutable, and a URL with any other version is a 404 (never other bytes under that name).

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

include!(concat!(env!("OUT_DIR"), "/frontend_assets.rs"));

/// Hex digits of the content hash in asset URLs.
const VERSION_LEN: usize = 10;
const STATIC: &str = "/static/";

struct Asset {
    bytes: Bytes,
    etag: String,
}

/// The page as served: URL path → file, with the asset version filled in.
pub struct Assets {
    files: HashMap<String, Asset>,
    version: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AssetsError {
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} holds no index.html", .0.display())]
    NoIndex(PathBuf),
}

fn etag(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    format!(
        "\"{}\"",
        digest
            .iter()
            .take(12)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// The content hash of the assets, given as (path relative to `static/`, bytes): SHA-256 over each
/// file in bytewise order of its path (path, a zero byte, bytes, a zero byte), the first 10 hex
/// digits. None when there are no assets.
pub fn asset_version<'a>(assets: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Option<String> {
    let mut assets: Vec<_> = assets.into_iter().collect();
    if assets.is_empty() {
        return None;
    }
    assets.sort_unstable_by_key(|(path, _)| *path);
    let mut hash = Sha256::new();
    for (path, bytes) in assets {
        hash.update(path.as_bytes());
        hash.update([0]);
        hash.update(bytes);
        hash.update([0]);
    }
    let hex: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Some(hex[..VERSION_LEN].to_string())
}

/// `index.html` as served: every quoted `"/static/` reference gains the version.
pub fn versioned_index(html: &[u8], version: &str) -> Vec<u8> {
    const NEEDLE: &[u8] = b"\"/static/";
    let mut out = Vec::with_capacity(html.len() + 16 * (VERSION_LEN + 1));
    let mut rest = html;
    while let Some(at) = rest.windows(NEEDLE.len()).position(|w| w == NEEDLE) {
        out.extend_from_slice(&rest[..at + NEEDLE.len()]);
        out.extend_from_slice(version.as_bytes());
        out.push(b'/');
        rest = &rest[at + NEEDLE.len()..];
    }
    out.extend_from_slice(rest);
    out
}

pub fn content_type(path: &str) -> &'static str {
    match path
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .as_deref()
    {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("ico") => "image/x-icon",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The cache policy by path class (the nginx frontend config sends the same).
pub fn cache_control(path: &str) -> &'static str {
    if path.ends_with(".html") {
        "no-cache"
    } else if path.starts_with(STATIC) {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=3600"
    }
}

/// Every file under `dir` as (URL path, bytes); names starting with a dot are no part of the page.
fn read_tree(dir: &Path, url: &str, out: &mut Vec<(String, Bytes)>) -> Result<(), AssetsError> {
    let read_error = |source| AssetsError::Read {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let child = format!("{url}{name}");
        if path.is_dir() {
            read_tree(&path, &format!("{child}/"), out)?;
        } else {
            let bytes = std::fs::read(&path).map_err(|source| AssetsError::Read {
                path: path.clone(),
                source,
            })?;
            out.push((child, Bytes::from(bytes)));
        }
    }
    Ok(())
}

impl Assets {
    /// The embedded copy, or the files of `dir` as they are now (edits after start are served
    /// after a restart, under a new version).
    pub fn load(dir: Option<&Path>) -> Result<Assets, AssetsError> {
        match dir {
            Some(dir) => {
                let mut files = Vec::new();
                read_tree(dir, "/", &mut files)?;
                if !files.iter().any(|(url, _)| url == "/index.html") {
                    return Err(AssetsError::NoIndex(dir.to_path_buf()));
                }
                Ok(Assets::from_files(files))
            }
            None => {
                Ok(Assets::from_files(EMBEDDED.iter().map(|(url, bytes)| {
                    (url.to_string(), Bytes::from_static(bytes))
                })))
            }
        }
    }

    /// Lays out the page's files (URL path as in git → bytes) the way they are served.
    fn from_files(files: impl IntoIterator<Item = (String, Bytes)>) -> Assets {
        let files: Vec<(String, Bytes)> = files.into_iter().collect();
        let version = asset_version(
            files
                .iter()
                .filter_map(|(url, bytes)| Some((url.strip_prefix(STATIC)?, &bytes[..]))),
        );
        let served = files.into_iter().map(|(url, bytes)| match &version {
            Some(v) if url == "/index.html" => (url, Bytes::from(versioned_index(&bytes, v))),
            Some(v) if url.starts_with(STATIC) => {
                (format!("{STATIC}{v}/{}", &url[STATIC.len()..]), bytes)
            }
            _ => (url, bytes),
        });
        Assets {
            files: served
                .map(|(url, bytes)| {
                    let etag = etag(&bytes);
                    (url, Asset { bytes, etag })
                })
                .collect(),
            version,
        }
    }

    /// Whether any page is available (the image build has none).
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The asset version in URLs (`/static/<version>/…`), when there are assets.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The response for a GET of `path`, or None when there is no such file.
    pub fn respond(&self, path: &str, request: &HeaderMap) -> Option<Response> {
        let path = if path == "/" { "/index.html" } else { path };
        let asset = self.files.get(path)?;
        let not_modified = request
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == asset.etag));
        let builder = Response::builder()
            .header(header::CACHE_CONTROL, cache_control(path))
            .header(header::ETAG, HeaderValue::from_str(&asset.etag).ok()?);
        if not_modified {
            return builder
                .status(StatusCode::NOT_MODIFIED)
                .body(Body::empty())
                .ok();
        }
        builder
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, content_type(path))
            .body(Body::from(asset.bytes.clone()))
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    const INDEX: &str = "<link href=\"/static/css/app.css\">\n<script src=\"/static/js/main.js\"></script>\n<p>/static/ in text</p>\n";

    fn page(dir: &Path) {
        for (rel, text) in [
            ("index.html", INDEX),
            ("favicon.svg", "<svg/>"),
            ("static/js/main.js", "import './game.js';"),
            ("static/js/game.js", "export const x = 1;"),
            ("static/css/app.css", "body {}"),
        ] {
            let path = dir.join(rel);
            std::fs::create_dir_all(path.parent().expect("under dir")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }
    }

    fn loaded(dir: &Path) -> Assets {
        Assets::load(Some(dir)).expect("a page")
    }

    async fn get(assets: &Assets, path: &str) -> Option<(String, Vec<u8>)> {
        let response = assets.respond(path, &HeaderMap::new())?;
        let cache = response.headers()[header::CACHE_CONTROL]
            .to_str()
            .expect("ascii")
            .to_string();
        let body = response.into_body().collect().await.expect("body");
        Some((cache, body.to_bytes().to_vec()))
    }

    #[test]
    fn the_version_follows_every_byte_and_every_name_but_not_the_order_given() {
        let a = asset_version([("js/a.js", &b"1"[..]), ("js/b.js", b"2")]).expect("a version");
        assert_eq!(a.len(), VERSION_LEN);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        let reordered = asset_version([("js/b.js", &b"2"[..]), ("js/a.js", b"1")]);
        assert_eq!(reordered.as_deref(), Some(a.as_str()));
        let other_byte = asset_version([("js/a.js", &b"1"[..]), ("js/b.js", b"3")]);
        assert_ne!(other_byte.as_deref(), Some(a.as_str()));
        let other_name = asset_version([("js/a.js", &b"1"[..]), ("js/c.js", b"2")]);
        assert_ne!(other_name.as_deref(), Some(a.as_str()));
        // The separators keep a name from running into its bytes.
        let shifted = asset_version([("js/a.js1", &b""[..]), ("js/b.js", b"2")]);
        assert_ne!(shifted.as_deref(), Some(a.as_str()));
        assert_eq!(asset_version(std::iter::empty()), None);
    }

    #[test]
    fn index_html_gains_the_version_in_quoted_static_references_only() {
        let served = versioned_index(INDEX.as_bytes(), "0123456789");
        assert_eq!(
            String::from_utf8(served).expect("utf-8"),
            "<link href=\"/static/0123456789/css/app.css\">\n<script src=\"/static/0123456789/js/main.js\"></script>\n<p>/static/ in text</p>\n"
        );
    }

    #[tokio::test]
    async fn assets_are_served_under_the_current_version_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        page(dir.path());
        let assets = loaded(dir.path());
        let v = assets.version().expect("a version").to_string();
        let (cache, html) = get(&assets, "/").await.expect("the page");
        assert_eq!(cache, "no-cache");
        let html = String::from_utf8(html).expect("utf-8");
        assert!(
            html.contains(&format!("\"/static/{v}/js/main.js\"")),
            "{html}"
        );
        let (cache, js) = get(&assets, &format!("/static/{v}/js/main.js"))
            .await
            .expect("the module");
        assert_eq!(cache, "public, max-age=31536000, immutable");
        assert_eq!(js, b"import './game.js';");
        assert!(get(&assets, "/favicon.svg").await.is_some());
        for missing in [
            "/static/js/main.js".to_string(),
            "/static/0000000000/js/main.js".to_string(),
            format!("/static/{v}/js/nope.js"),
            format!("/static/{v}/../index.html"),
        ] {
            assert!(get(&assets, &missing).await.is_none(), "{missing}");
        }
    }

    #[tokio::test]
    async fn frontend_dir_is_read_at_start_and_an_edit_is_a_new_version_after_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        page(dir.path());
        let assets = loaded(dir.path());
        let v = assets.version().expect("a version").to_string();
        let main = dir.path().join("static/js/main.js");
        std::fs::write(&main, "import './game.js'; // edited").expect("edit");
        let (_, served) = get(&assets, &format!("/static/{v}/js/main.js"))
            .await
            .expect("the module");
        assert_eq!(
            served, b"import './game.js';",
            "the bytes the version names"
        );
        let restarted = loaded(dir.path());
        let v2 = restarted.version().expect("a version");
        assert_ne!(v2, v);
        assert!(get(&restarted, &format!("/static/{v}/js/main.js"))
            .await
            .is_none());
    }

    #[test]
    fn dotfiles_are_no_part_of_the_page() {
        let dir = tempfile::tempdir().expect("tempdir");
        page(dir.path());
        let before = loaded(dir.path()).version().map(String::from);
        std::fs::write(dir.path().join("static/js/.main.js.swp"), "x").expect("write");
        std::fs::create_dir(dir.path().join(".git")).expect("mkdir");
        std::fs::write(dir.path().join(".git/HEAD"), "x").expect("write");
        let assets = loaded(dir.path());
        assert_eq!(assets.version().map(String::from), before);
        assert!(assets.files.keys().all(|k| !k.contains("/.")));
    }

    #[test]
    fn a_frontend_dir_that_is_missing_or_has_no_index_is_an_error_at_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope");
        let err = Assets::load(Some(&missing)).err().expect("missing folder");
        assert!(err.to_string().starts_with("cannot read "), "{err}");
        std::fs::create_dir_all(dir.path().join("static")).expect("mkdir");
        let err = Assets::load(Some(dir.path())).err().expect("no index");
        assert!(err.to_string().ends_with("holds no index.html"), "{err}");
    }

    #[cfg(feature = "embed-frontend")]
    #[tokio::test]
    async fn the_embedded_page_names_its_version_and_every_asset_it_names_is_served() {
        let assets = Assets::load(None).expect("embedded");
        let v = assets.version().expect("embedded assets").to_string();
        let (_, html) = get(&assets, "/index.html").await.expect("the page");
        let html = String::from_utf8(html).expect("utf-8");
        let refs: Vec<&str> = html.split('"').filter(|s| s.starts_with(STATIC)).collect();
        assert!(refs.len() >= 5, "{refs:?}");
        for r in refs {
            assert!(r.starts_with(&format!("/static/{v}/")), "{r}");
            assert!(get(&assets, r).await.is_some(), "{r}");
        }
    }
}
