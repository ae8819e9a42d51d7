//! The web game's files: embedded at build time (feature `embed-frontend`), or read from
//! `FRONTEND_DIR`. One cache policy: the page revalidates, versioned assets are immutable.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

include!(concat!(env!("OUT_DIR"), "/frontend_assets.rs"));

pub struct Asset {
    bytes: Vec<u8>,
    etag: String,
}

pub enum Assets {
    Embedded(HashMap<&'static str, Asset>),
    Dir(PathBuf),
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
    } else if path.starts_with("/static/") {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=3600"
    }
}

impl Assets {
    pub fn load(dir: Option<&Path>) -> Assets {
        match dir {
            Some(d) => Assets::Dir(d.to_path_buf()),
            None => Assets::Embedded(
                EMBEDDED
                    .iter()
                    .map(|(path, bytes)| {
                        (
                            *path,
                            Asset {
                                bytes: bytes.to_vec(),
                                etag: etag(bytes),
                            },
                        )
                    })
                    .collect(),
            ),
        }
    }

    /// Whether any page is available (the image build has none).
    pub fn is_empty(&self) -> bool {
        matches!(self, Assets::Embedded(m) if m.is_empty())
    }

    /// The response for a GET of `path`, or None when there is no such file.
    pub fn respond(&self, path: &str, request: &HeaderMap) -> Option<Response> {
        let path = if path == "/" { "/index.html" } else { path };
        let (bytes, tag) = match self {
            Assets::Embedded(map) => {
                let a = map.get(path)?;
                (a.bytes.clone(), a.etag.clone())
            }
            Assets::Dir(root) => {
                let rel = Path::new(path.trim_start_matches('/'));
                if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
                    return None;
                }
                let bytes = std::fs::read(root.join(rel)).ok()?;
                let tag = etag(&bytes);
                (bytes, tag)
            }
        };
        let not_modified = request
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
        let mut builder = Response::builder()
            .header(header::CACHE_CONTROL, cache_control(path))
            .header(header::ETAG, HeaderValue::from_str(&tag).ok()?);
        if not_modified {
            builder = builder.status(StatusCode::NOT_MODIFIED);
            return builder.body(Body::empty()).ok();
        }
        builder
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, content_type(path))
            .body(Body::from(bytes))
            .ok()
    }
}
