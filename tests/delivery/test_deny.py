"""deny.toml, checked offline with cargo-deny (bans, licences, sources; the advisories need the RustSec database
and run in GitHub Actions): the workspace passes, and a crate graph with what it forbids fails."""
import tomllib

from .tools import ROOT, run, tool

CHECKS = ["bans", "licenses", "sources"]


def deny(manifest_dir, config=ROOT / "deny.toml"):
    return run([tool("cargo-deny"), "--offline", "--manifest-path", str(manifest_dir / "Cargo.toml"),
                "--config", str(config), "check", *CHECKS], cwd=manifest_dir)


def test_the_workspace_passes_bans_licences_and_sources():
    r = deny(ROOT)
    assert r.returncode == 0, r.stderr[-4000:]
    assert "bans ok, licenses ok, sources ok" in r.stdout, r.stdout


def test_the_config_bans_rsa_and_openssl_and_allows_only_crates_io():
    cfg = tomllib.loads((ROOT / "deny.toml").read_text())
    banned = {d["crate"] for d in cfg["bans"]["deny"]}
    assert {"rsa", "openssl-sys", "openssl", "native-tls"} <= banned
    assert all(d.get("reason") for d in cfg["bans"]["deny"])
    assert cfg["sources"]["unknown-registry"] == cfg["sources"]["unknown-git"] == "deny"
    assert cfg["sources"]["allow-git"] == []
    assert not {l for l in cfg["licenses"]["allow"] if "GPL" in l}


def crate(path, name, license, deps=""):
    path.mkdir(parents=True)
    (path / "Cargo.toml").write_text(
        f'[package]\nname = "{name}"\nversion = "0.1.0"\nedition = "2021"\nlicense = "{license}"\n'
        f'publish = true\n\n[dependencies]\n{deps}')
    (path / "src").mkdir()
    (path / "src/lib.rs").write_text("")


def test_a_graph_with_openssl_sys_and_a_gpl_crate_fails(tmp_path):
    """Local path crates stand in for the real ones: cargo-deny judges names, licences and sources, all of which
    these carry, and nothing needs downloading."""
    app = tmp_path / "app"
    crate(app, "probe-app", "MIT",
          'openssl-sys = { path = "../openssl-sys" }\ncopyleft = { path = "../copyleft" }\n')
    crate(tmp_path / "openssl-sys", "openssl-sys", "MIT")
    crate(tmp_path / "copyleft", "copyleft", "GPL-3.0-only")
    r = run(["cargo", "generate-lockfile", "--offline", "--manifest-path", str(app / "Cargo.toml")])
    assert r.returncode == 0, r.stderr
    r = deny(app)
    assert r.returncode != 0
    assert "openssl-sys" in r.stderr and "banned" in r.stderr, r.stderr[-3000:]
    assert "GPL-3.0-only" in r.stderr and "rejected" in r.stderr, r.stderr[-3000:]
    # The same graph with the workspace's config removed from the picture passes: the failure is deny.toml's.
    lenient = tmp_path / "lenient.toml"
    lenient.write_text('[licenses]\nallow = ["MIT", "GPL-3.0-only"]\n')
    assert deny(app, lenient).returncode == 0
