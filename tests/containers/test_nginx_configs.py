"""Both nginx configs, read as files: Debian's nginx accepts them unchanged, and the rules that nginx would
otherwise break silently (add_header/proxy_set_header inheritance, retries of non-idempotent requests) hold."""
import re
import subprocess

import pytest

from .local_stack import repo_path, strip_comments, which

CONFIGS = {"frontend": repo_path("frontend", "nginx.conf"), "proxy": repo_path("nginx", "nginx.conf")}


def read(name):
    with open(CONFIGS[name], encoding="utf-8") as f:
        return strip_comments(f.read())


def blocks(text, opener):
    """Bodies of `opener ... { ... }` blocks (balanced braces; quoted strings blanked first, they hold JSON)."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", '"-"', text)
    out = []
    for m in re.finditer(opener + r"[^{;]*\{", text):
        depth, i = 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        out.append(text[m.end():i - 1])
    return out


def test_debian_nginx_accepts_both_configs_unchanged(tmp_path_factory):
    which("nginx")
    hosts = repo_path("target", "containers-test-hosts")
    with open(hosts, "w", encoding="utf-8") as f:
        f.write("127.0.0.1 localhost\n127.0.0.2 backend\n127.0.0.3 backend\n127.0.0.4 frontend\n")
    run = repo_path("scripts", "local-stack", "run-nginx.sh")
    for args in (["--conf", CONFIGS["frontend"], "--docroot", repo_path("frontend", "public")],
                 ["--conf", CONFIGS["proxy"], "--hosts", hosts]):
        result = subprocess.run([run, *args, "--test"], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def test_the_proxy_config_needs_the_service_names_to_resolve():
    """Without the compose names nginx refuses to start: the hosts file is what makes the test honest."""
    result = subprocess.run([repo_path("scripts", "local-stack", "run-nginx.sh"), "--conf", CONFIGS["proxy"], "--test"],
                            capture_output=True, text=True)
    assert result.returncode != 0 and 'host not found in upstream "backend:3001"' in result.stderr


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_headers_are_set_once_at_server_level_and_never_in_a_location(name):
    text = read(name)
    (server,) = blocks(text, r"\bserver\s")
    for loc in blocks(server, r"\blocation\s"):
        for directive in ("add_header", "proxy_set_header", "proxy_hide_header", "expires"):
            assert not re.search(rf"\b{directive}\b", loc), \
                f"{name}: a location with {directive} drops every inherited one (nginx inheritance)"
    top = re.sub(r"\blocation\s[^{]*\{[^{}]*(\{[^{}]*\}[^{}]*)*\}", "", server)
    for header in ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy",
                   "Cross-Origin-Opener-Policy", "Permissions-Policy"):
        assert len(re.findall(rf"add_header\s+{header}\s.*\balways;", top)) == 1, f"{name}: {header}"


def test_the_proxy_keeps_the_api_prefix_and_never_replays_a_sent_post(contract):
    text = read("proxy")
    passes = re.findall(r"proxy_pass\s+([^;]+);", text)
    assert passes and all(re.fullmatch(r"http://\w+", p) for p in passes), \
        f"proxy_pass with a URI part rewrites the path (the original's trailing slash stripped /api): {passes}"
    next_upstream = re.search(r"proxy_next_upstream\s+([^;]+);", text).group(1).split()
    assert "non_idempotent" not in next_upstream
    assert {"error", "timeout"} <= set(next_upstream)
    assert re.search(r"proxy_request_buffering\s+on;", text)
    (api,) = blocks(text, r"\bupstream\s+api_backends\s")
    assert re.search(rf"\bserver\s+backend:{contract['listen']['port']['container']}\b", api)
    keepalive = int(re.search(r"keepalive_timeout\s+(\d+)s;", api).group(1))
    assert keepalive < contract["shutdown"]["http_idle_timeout_seconds"]
    assert re.search(r"proxy_http_version\s+1\.1;", text) and re.search(r'proxy_set_header\s+Connection\s+"";', text)
    (web,) = blocks(text, r"\bupstream\s+web_frontends\s")
    assert re.search(r"\bserver\s+frontend:8080\b", web)


def test_the_proxy_body_limit_is_the_apis():
    with open(repo_path("docs", "api.md"), encoding="utf-8") as f:
        api = f.read()
    kib = int(re.search(r"at most (\d+) KiB", api).group(1))
    assert re.search(rf"client_max_body_size\s+{kib}k;", read("proxy"))


def test_only_the_api_and_the_page_are_routed():
    text = read("proxy")
    locations = re.findall(r"\blocation\s+([^{]+?)\s*\{", text)
    assert locations == ["= /api", "^~ /api/", "= /_proxy/health", "/", "@bad_request",
                         "@payload_too_large", "@bad_gateway", "@gateway_timeout"], locations
