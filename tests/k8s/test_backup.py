"""scripts/backup/ against the real local PostgreSQL: dump, drop the database, restore, and compare every
table's row count and content, the schema and the sequences. Uses its own database hmg_backup_<random>,
dropped afterwards. When HMG_BIN is set the schema is the server's real one (`humor-memory-game migrate`),
filled with real rows by playing through the API; fixture tables with foreign keys, JSONB and sequences are
added either way."""
import json
import os
import re
import secrets
import shutil
import subprocess
import time
import urllib.request

import pytest

from harness import GameServer, inherited_env_without_storage, wait_for

from .manifests import ROOT, find, load_docs

BACKUP = ROOT / "scripts" / "backup" / "pg-backup.sh"
RESTORE = ROOT / "scripts" / "backup" / "pg-restore.sh"
PG = {"PGHOST": os.environ.get("PGHOST", "127.0.0.1"), "PGPORT": os.environ.get("PGPORT", "5432"),
      "PGUSER": os.environ.get("PGUSER", "postgres")}


def psql(sql, db="postgres", check=True):
    out = subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-qtA", "-d", db, "-c", sql],
                         env=dict(os.environ, **PG), capture_output=True, text=True)
    if check and out.returncode != 0:
        raise AssertionError(f"psql failed: {out.stderr}")
    return out.stdout.strip()


@pytest.fixture(scope="module")
def database():
    for tool in ("psql", "pg_dump", "pg_restore"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is required (Debian package postgresql-client)")
    try:
        psql("SELECT 1")
    except AssertionError as e:
        pytest.fail(f"the local PostgreSQL must be running on {PG['PGHOST']}:{PG['PGPORT']}: {e}")
    name = f"hmg_backup_{secrets.token_hex(4)}"
    psql(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def script_env(db, **extra):
    return {**os.environ, **PG, "PGDATABASE": db, **extra}


def fill_fixture_tables(db):
    psql("""
        CREATE SCHEMA audit;
        CREATE TABLE fx_players (id bigserial PRIMARY KEY, name text UNIQUE NOT NULL, meta jsonb NOT NULL);
        CREATE TABLE fx_games (id bigserial PRIMARY KEY, player_id bigint REFERENCES fx_players ON DELETE CASCADE,
                               score int NOT NULL CHECK (score >= 0), started_at timestamptz NOT NULL);
        CREATE INDEX fx_games_score ON fx_games (score DESC);
        CREATE VIEW fx_best AS SELECT player_id, max(score) AS best FROM fx_games GROUP BY player_id;
        CREATE TABLE audit.events (id serial PRIMARY KEY, body text);
        INSERT INTO fx_players (name, meta)
          SELECT 'player' || g, jsonb_build_object('n', g, 'emoji', '😂') FROM generate_series(1, 500) g;
        INSERT INTO fx_games (player_id, score, started_at)
          SELECT 1 + g % 500, g % 1000, '2026-01-01'::timestamptz + g * interval '1 minute'
          FROM generate_series(1, 5000) g;
        INSERT INTO audit.events (body) SELECT md5(g::text) FROM generate_series(1, 300) g;
    """, db)


def play_through_the_api(db, binary):
    """Runs the real server on the test database and starts a few games, so real tables hold real rows."""
    env = inherited_env_without_storage()
    env.update(DATABASE_URL=f"postgres://{PG['PGUSER']}@{PG['PGHOST']}:{PG['PGPORT']}/{db}", LOG_FORMAT="json")
    server = GameServer(binary, env).start()
    try:
        for name in ("backup_alice", "backup_bob", "backup_carol"):
            req = urllib.request.Request(server.url + "/api/game/start", method="POST",
                                         data=json.dumps({"username": name, "difficulty": "easy"}).encode(),
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as r:
                assert r.status == 201
    finally:
        server.stop()


def snapshot(db):
    """Exact row count and an order-independent content digest of every user table, plus sequences."""
    tables = psql("""SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables
                     WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
                     ORDER BY 1""", db).splitlines()
    state = {}
    for t in tables:
        state[t] = psql(f"SELECT count(*) || ' ' || coalesce(md5(string_agg(md5(x::text), '' ORDER BY md5(x::text))), '-') "
                        f"FROM {t} x", db)
    for seq in psql("SELECT schemaname || '.' || sequencename FROM pg_sequences", db).splitlines():
        state["seq " + seq] = psql(f"SELECT last_value FROM {seq}", db)
    return state


def schema(db):
    out = subprocess.run(["pg_dump", "--schema-only", "--no-owner", "--no-privileges", db], env=script_env(db),
                         capture_output=True, text=True, check=True).stdout
    # Drop comments and the random \restrict token newer pg_dump versions print.
    return [line for line in out.splitlines() if line and not line.startswith("--") and not line.startswith("\\")]


def dumps(directory, db):
    return sorted(p.name for p in directory.glob(f"{db}-*.dump"))


def test_backup_drop_restore_gives_back_every_row(database, tmp_path):
    binary = os.environ.get("HMG_BIN")
    if binary:
        url = f"postgres://{PG['PGUSER']}@{PG['PGHOST']}:{PG['PGPORT']}/{database}"
        out = subprocess.run([binary, "migrate"], env=dict(os.environ, DATABASE_URL=url), capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        play_through_the_api(database, binary)
    fill_fixture_tables(database)
    before, before_schema = snapshot(database), schema(database)
    assert before["public.fx_games"].startswith("5000 ")
    if binary:
        real = {t: v for t, v in before.items() if not t.startswith(("public.fx_", "audit.", "seq "))}
        assert any(not v.startswith("0 ") for v in real.values()), f"the API wrote no rows: {real}"

    out = subprocess.run([str(BACKUP), "--dir", str(tmp_path), "--keep", "3"], env=script_env(database),
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    files = dumps(tmp_path, database)
    assert len(files) == 1 and re.fullmatch(rf"{database}-\d{{8}}T\d{{6}}Z\.dump", files[0])
    assert f"wrote {tmp_path / files[0]}" in out.stdout

    psql(f"DROP DATABASE {database} WITH (FORCE)")
    psql(f"CREATE DATABASE {database}")
    assert snapshot(database) == {}

    out = subprocess.run([str(RESTORE), "--yes", str(tmp_path / files[0])], env=script_env(database),
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert snapshot(database) == before
    assert schema(database) == before_schema

    # Restoring over changed data brings the dumped state back too (objects are dropped and recreated).
    psql("DELETE FROM fx_games WHERE score > 10; UPDATE fx_players SET meta = '{}'; INSERT INTO audit.events (body) VALUES ('x')", database)
    assert snapshot(database) != before
    out = subprocess.run([str(RESTORE), "--yes", str(tmp_path / files[0])], env=script_env(database),
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert snapshot(database) == before


def test_backup_keeps_the_newest_dumps(database, tmp_path):
    psql("CREATE TABLE IF NOT EXISTS keep_me (id int)", database)
    for _ in range(3):
        out = subprocess.run([str(BACKUP), "--dir", str(tmp_path), "--keep", "2"], env=script_env(database),
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        # Dump names carry the second: the next dump must start in a later second than this one ended.
        ended = int(time.time())
        wait_for("the clock's next second", lambda: int(time.time()) > ended, 3)
        names = dumps(tmp_path, database)
    assert len(names) == 2
    assert "removed old backup" in out.stdout
    (tmp_path / "unrelated.dump").write_text("not ours")
    subprocess.run([str(BACKUP), "--dir", str(tmp_path), "--keep", "1"], env=script_env(database), check=True,
                   capture_output=True)
    assert len(dumps(tmp_path, database)) == 1 and (tmp_path / "unrelated.dump").exists()


def test_a_failed_backup_leaves_no_file(database, tmp_path):
    out = subprocess.run([str(BACKUP), "--dir", str(tmp_path)], capture_output=True, text=True,
                         env=script_env(database, PGPORT="1", PGCONNECT_TIMEOUT="3"))
    assert out.returncode != 0 and "pg_dump of" in out.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args,message", [
    (["--keep", "two"], "--keep must be a whole number"),
    (["--dir"], "--dir needs a value"),
    (["--bogus"], "unknown argument"),
])
def test_backup_rejects_bad_arguments(database, tmp_path, args, message):
    out = subprocess.run([str(BACKUP), *args], env=script_env(database), capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode != 0 and message in out.stderr


def test_backup_needs_a_database_name(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PGDATABASE"}
    out = subprocess.run([str(BACKUP), "--dir", str(tmp_path)], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "PGDATABASE is not set" in out.stderr


def test_restore_refuses_without_confirmation_or_a_real_dump(database, tmp_path):
    psql("CREATE TABLE IF NOT EXISTS guard (id int); INSERT INTO guard VALUES (1)", database)
    subprocess.run([str(BACKUP), "--dir", str(tmp_path)], env=script_env(database), check=True, capture_output=True)
    dump = tmp_path / dumps(tmp_path, database)[-1]
    psql("INSERT INTO guard VALUES (2)", database)
    out = subprocess.run([str(RESTORE), str(dump)], env=script_env(database), capture_output=True, text=True)
    assert out.returncode != 0 and "add --yes" in out.stderr
    assert psql("SELECT count(*) FROM guard", database) == "2"
    junk = tmp_path / "junk.dump"
    junk.write_text("SELECT 1;")
    out = subprocess.run([str(RESTORE), "--yes", str(junk)], env=script_env(database), capture_output=True, text=True)
    assert out.returncode != 0 and "not a pg_dump custom-format archive" in out.stderr
    out = subprocess.run([str(RESTORE), "--yes"], env=script_env(database), capture_output=True, text=True)
    assert out.returncode != 0 and "no dump file" in out.stderr


def test_the_cronjob_runs_exactly_these_scripts():
    out = subprocess.run([str(ROOT / "scripts/backup/render-cronjob.sh"), "--check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    docs = load_docs(ROOT / "k8s" / "postgres-backup.yaml")
    scripts = find(docs, "ConfigMap", "postgres-backup-scripts")["data"]
    assert scripts["pg-backup.sh"] == BACKUP.read_text()
    assert scripts["pg-restore.sh"] == RESTORE.read_text()
    cron = find(docs, "CronJob", "postgres-backup")["spec"]
    spec = cron["jobTemplate"]["spec"]["template"]["spec"]
    c = spec["containers"][0]
    assert c["command"] == ["bash", "/scripts/pg-backup.sh"]
    env = {e["name"]: e for e in c["env"]}
    assert {"PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD", "BACKUP_DIR"} <= set(env)
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    assert mounts[env["BACKUP_DIR"]["value"]] == "backups" and mounts["/scripts"] == "scripts"
    assert cron["concurrencyPolicy"] == "Forbid"
    postgres = find(load_docs(ROOT / "k8s" / "postgres.yaml"), "Deployment", "postgres")
    assert c["image"] == postgres["spec"]["template"]["spec"]["containers"][0]["image"], \
        "pg_dump must match the server's major version"
