"""The frontend nginx (frontend/nginx.conf, unchanged, Debian's nginx) serving the page as frontend/Dockerfile lays
it out (scripts/local-stack.sh runs the image's layout step), checked against the web game's header table
(frontend/tests/http-headers.json), file by file against the image's files (image_build.py carries out the
Dockerfile), and against a backend, which lays the page out itself at start: both must serve the same URLs with
the same bytes, so the two content-hash computations agree."""
import gzip
import os

import pytest

from .header_table import check_case
from .local_stack import FRONTEND, repo_path, request

PUBLIC = repo_path("frontend", "public")
# One backend replica of the local stack, serving its embedded copy of the page.
BACKEND = ("127.0.0.3", 3001)
# The policy's Content-Type per extension (the header table's cases).
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".json": "application/json",
    ".ico": "image/x-icon", ".png": "image/png", ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
}


def public_files():
    """The page's files as committed (assets at fixed paths under static/), dotfiles left out as the layout does."""
    out = []
    for base, dirs, files in os.walk(PUBLIC):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            rel = os.path.relpath(os.path.join(base, name), PUBLIC)
            if not name.startswith("."):
                out.append(rel.replace(os.sep, "/"))
    return sorted(out)


def served_rel(rel, version):
    """Where a committed file is served: assets under static/<version>/, everything else where it is."""
    return f"static/{version}/{rel[len('static/'):]}" if rel.startswith("static/") else rel


def expected_cache(rel):
    if rel == "index.html":
        return "no-cache"
    if rel.startswith("static/"):
        return "public, max-age=31536000, immutable"
    return "public, max-age=3600"


def page_cases(table):
    return [c for c in table["cases"] if not c["path"].startswith("/api")]


def test_the_header_table_holds_for_every_page_case(stack, header_table, frontend_image):
    cases = page_cases(header_table)
    assert len(cases) >= 8
    for case in cases:
        path = case["path"].replace("{version}", frontend_image.version)
        resp = request(FRONTEND, "GET", path, headers=case.get("request_headers"))
        check_case(resp, case, header_table, frontend_image)


@pytest.mark.parametrize("rel", public_files())
def test_every_public_file_has_its_type_cache_class_and_security_headers(stack, header_table, frontend_image, rel):
    ext = os.path.splitext(rel)[1]
    assert ext in CONTENT_TYPES, f"{rel}: no Content-Type rule for {ext} (add one to the policy and nginx.conf)"
    served = served_rel(rel, frontend_image.version)
    resp = request(FRONTEND, "GET", "/" + served)
    assert resp.status == 200
    assert resp.all("Content-Type") == [CONTENT_TYPES[ext]]
    assert resp.all("Cache-Control") == [expected_cache(served)]
    for name, value in header_table["every_response"].items():
        assert resp.all(name) == [value], f"/{served}: {name}"
    assert resp.body == frontend_image.read(served)


def test_the_frontend_nginx_serves_exactly_the_images_files(stack, frontend_image):
    """scripts/local-stack.sh lays the page out itself; it must be the tree the Dockerfile builds."""
    files = frontend_image.files()
    assert files == sorted(served_rel(rel, frontend_image.version) for rel in public_files())
    for rel in files:
        resp = request(FRONTEND, "GET", "/" + rel)
        assert resp.status == 200 and resp.body == frontend_image.read(rel), rel


def test_the_backend_serves_the_same_urls_and_bytes_as_the_image(stack, frontend_image):
    """The server hashes the assets at start (Rust), the image at build (frontend/asset-version.mjs)."""
    page = request(BACKEND, "GET", "/")
    assert page.status == 200 and page.body == frontend_image.read("index.html"), \
        "the backend's index.html names another asset version than the image's"
    for rel in frontend_image.files():
        resp = request(BACKEND, "GET", "/" + rel)
        assert resp.status == 200 and resp.body == frontend_image.read(rel), rel
    for rel in public_files():
        if rel.startswith("static/"):
            for path in ("/" + rel, f"/static/0000000000/{rel[len('static/'):]}"):
                assert request(BACKEND, "GET", path).status == 404, path
                assert request(FRONTEND, "GET", path).status == 404, path


def test_gzip_only_when_asked_and_for_text_only(stack, static_version):
    js = f"/static/{static_version}/js/main.js"
    plain = request(FRONTEND, "GET", js)
    assert plain.get("Content-Encoding") is None
    zipped = request(FRONTEND, "GET", js, headers={"Accept-Encoding": "gzip"})
    assert zipped.get("Content-Encoding") == "gzip" and "Accept-Encoding" in zipped.get("Vary")
    assert gzip.decompress(zipped.body) == plain.body and len(zipped.body) < len(plain.body)
    css = request(FRONTEND, "GET", f"/static/{static_version}/css/app.css", headers={"Accept-Encoding": "gzip"})
    assert css.get("Content-Encoding") == "gzip"
    # Already-compressed formats are left alone.
    for rel in public_files():
        if rel.endswith((".png", ".ico")):
            resp = request(FRONTEND, "GET", "/" + rel, headers={"Accept-Encoding": "gzip"})
            assert resp.get("Content-Encoding") is None, rel


def test_revalidation_keeps_the_policy(stack, header_table):
    first = request(FRONTEND, "GET", "/")
    etag = first.get("ETag")
    assert etag
    again = request(FRONTEND, "GET", "/", headers={"If-None-Match": etag})
    assert again.status == 304 and again.body == b""
    assert again.all("Cache-Control") == ["no-cache"]
    for name, value in header_table["every_response"].items():
        assert again.all(name) == [value], name


def test_health_answers_healthy_and_is_never_cached(stack, header_table):
    resp = request(FRONTEND, "GET", "/health")
    assert resp.status == 200 and resp.body == b"healthy\n"
    assert resp.get("Content-Type") == "text/plain; charset=utf-8" and resp.get("Cache-Control") == "no-store"
    for name, value in header_table["every_response"].items():
        assert resp.all(name) == [value], name


@pytest.mark.parametrize("path", ["/no-such-page", "/static/", "/static/0000000000/css/app.css", "/static/css/app.css",
                                  "/.gitkeep", "/static/x/../../nope.txt"])
def test_missing_paths_are_short_uncached_404s_with_the_policy(stack, header_table, path):
    resp = request(FRONTEND, "GET", path)
    assert resp.status == 404, resp
    assert resp.get("Cache-Control") == "no-store"
    assert "text/html" not in (resp.get("Content-Type") or "")
    assert b"<html" not in resp.body.lower()
    for name, value in header_table["every_response"].items():
        assert resp.all(name) == [value], name


def test_paths_above_the_root_are_refused(stack):
    resp = request(FRONTEND, "GET", "/static/../../etc/passwd")
    assert resp.status == 400 and b"root:" not in resp.body


def test_a_directory_redirect_stays_relative(stack):
    resp = request(FRONTEND, "GET", "/static")
    assert resp.status == 301 and resp.get("Location") == "/static/"


def test_the_server_does_not_announce_its_version(stack):
    assert request(FRONTEND, "GET", "/").get("Server") == "nginx"
