"""What the reader's own machine runs: every `sed -i` in our docs works with GNU sed and macOS's BSD sed,
and the guide's `curl -w "@curl-format.txt"` finds its file where the reader runs it and prints the timings
(the real curl against a local server)."""
import http.server
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from . import guide_replay
from .manifests import ROOT

DOCS = [ROOT / "README.md", ROOT / "gitops" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# GNU sed takes `-i` with or without a suffix, BSD sed requires one (`-i ''` is BSD-only): a suffix attached
# to the flag (`-i.bak`) is the form both accept.
SED_I = re.compile(r"\bsed\s+(-i\S*)(?:\s+(-i\S*|''))?\s+('[^']*')\s+(\S+)")


def sed_in_place_commands():
    """(doc, line) for every `sed -i` the docs tell a reader to run (in shell blocks; prose may quote the guide)."""
    found = []
    for doc in DOCS:
        shell = False
        for line in doc.read_text().splitlines():
            fence = re.match(r"\s*```(\w*)", line)
            if fence:
                shell = not shell and fence.group(1) in ("bash", "sh", "shell")
                continue
            if shell and re.search(r"\bsed\s+-i", line):
                found.append((doc.relative_to(ROOT), line.strip()))
    return found


def test_the_docs_use_sed_in_place():
    assert len(sed_in_place_commands()) >= 2, "the guide's two upgrades (Milestones 4.2 and 5.4)"


@pytest.mark.parametrize("doc,line", sed_in_place_commands(), ids=lambda x: str(x)[:60])
def test_every_sed_in_place_in_the_docs_works_with_gnu_and_bsd_sed(doc, line, tmp_path):
    m = SED_I.search(line)
    assert m, f"{doc}: cannot read the sed command in: {line}"
    flag, extra, expression, target = m.groups()
    assert extra is None and re.fullmatch(r"-i\.\w+", flag), \
        f"{doc}: use an attached suffix (sed -i.bak ...), which GNU and BSD sed both accept: {line}"
    backup = f"{target}{flag[2:]}"
    assert f"rm {backup}" in line, f"{doc}: remove the backup {backup} in the same command: {line}"
    # POSIX sed only (GNU's --posix turns its extensions off), on a copy of the file the docs edit.
    source = ROOT / target if (ROOT / target).exists() else ROOT / "gitops" / target
    assert source.exists(), f"{doc}: {target} does not exist"
    copy = tmp_path / source.name
    shutil.copy(source, copy)
    posix = subprocess.run(["sed", "--posix", expression.strip("'"), str(copy)], capture_output=True, text=True)
    plain = subprocess.run(["sed", expression.strip("'"), str(copy)], capture_output=True, text=True)
    assert posix.returncode == 0 and posix.stdout == plain.stdout, f"{doc}: relies on GNU sed: {line}\n{posix.stderr}"
    assert posix.stdout != source.read_text(), f"{doc}: the expression changes nothing in {target}: {line}"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def local_server(tmp_path):
    (tmp_path / "index.html").write_text("<!doctype html><title>ok</title>")
    handler = lambda *a, **kw: _Quiet(*a, directory=str(tmp_path), **kw)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    thread.join()


def reader_cwd_at(section_prefix):
    """The directory the replay's reader is in at the first step of a section (following its `cd`s)."""
    cwd = ROOT
    for step in guide_replay.load_steps():
        if step["section"].startswith(section_prefix):
            return cwd
        for word in re.findall(r"(?:^|&&|;)\s*cd\s+(\S+)", step["run"]):
            cwd = (cwd / word).resolve()
    raise AssertionError(f"no step in section {section_prefix}")


def test_the_guides_curl_format_file_is_where_the_reader_runs_the_command(local_server):
    cwd = reader_cwd_at("6.5")
    step = next(s for s in guide_replay.load_steps() if s["section"] == "6.5")
    assert '-w "@curl-format.txt"' in step["run"], "the guide's own command"
    out = subprocess.run(["curl", "-w", "@curl-format.txt", "-o", "/dev/null", "-s", local_server], cwd=cwd,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    names = ["time_namelookup", "time_connect", "time_appconnect", "time_pretransfer", "time_redirect",
             "time_starttransfer", None, "time_total"]
    assert len(lines) == len(names), out.stdout
    for name, line in zip(names, lines):
        if name is None:
            assert line.strip() == "----------"
        else:
            assert re.fullmatch(rf"\s*{name}:\s+\d+\.\d+", line), line
    assert float(lines[-1].split()[-1]) > 0, "a real request took time"
    assert Path(cwd, "curl-format.txt").read_text().count("%{") == 7
