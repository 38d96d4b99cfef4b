"""`r2d2 apply`, `restore` and `purge` on a local lake and on S3 (moto on 127.0.0.1; Azurite's are in
test_azure.py): dry runs change nothing, restores are byte-identical, changed tables are skipped,
bad plans and quarantines are refused before anything moves, and a kill -9 at every marked step is
finished by a re-run or undone by a restore.

Faults are injected through R2D2_FAULT (r2d2/journal.py): kill sends SIGKILL to the process at the
marked step (real: nothing gets to clean up). A full disk and a refused permission are injected as
the OSError the file system would raise, because these tests run as root (no permission is ever
refused to root) with no small file system to fill."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from r2d2.cli import main
from tests.conftest import S3_ENV, upload, write_sales_lake, write_table

REPO = Path(__file__).resolve().parents[1]
DELETED = ("sales/all", "sales/by_name", "sales/some")  # what the plan of the sales lake deletes


def snapshot(fs: pafs.FileSystem, root: str) -> dict[str, str]:
    """Every file of the lake (the quarantine left out) and the SHA-256 of its bytes."""
    out = {}
    for info in fs.get_file_info(pafs.FileSelector(root, recursive=True)):
        rel = info.path[len(root.rstrip("/")) + 1 :]
        if info.type == pafs.FileType.File and not rel.startswith(".r2d2-quarantine"):
            with fs.open_input_stream(info.path) as f:
                out[rel] = hashlib.sha256(f.read()).hexdigest()
    return out


def r2d2(*args: str, fault: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The CLI in its own process (so that a kill -9 kills it, not the tests)."""
    full = {**os.environ, **(env or {})}
    full.pop("R2D2_FAULT", None)
    if fault:
        full["R2D2_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "r2d2.cli", *args], capture_output=True, text=True, env=full,
                          cwd=REPO, timeout=300)


def scan_and_plan(lake_uri: str, out: Path) -> Path:
    assert main(["scan", lake_uri, "--out", str(out), "--quiet"]) == 0
    assert main(["plan", str(out), "--out", str(out), "--quiet"]) == 0
    plan = json.loads((out / "plan.json").read_text())
    assert tuple(sorted(d["table"] for d in plan["deletions"])) == DELETED
    return out


@pytest.fixture
def planned(tmp_path: Path) -> tuple[Path, Path]:
    lake = tmp_path / "lake"
    write_sales_lake(lake)
    return lake, scan_and_plan(str(lake), tmp_path / "plan")


def states(out: Path) -> dict[str, str]:
    from r2d2.apply import states_for_report

    return {t: s.state for t, s in states_for_report(out).items()}


def test_dry_run_changes_nothing_and_says_what_would_move(planned: tuple[Path, Path], capsys) -> None:
    lake, out = planned
    before = snapshot(pafs.LocalFileSystem(), str(lake))
    assert main(["apply", str(out)]) == 0
    text = capsys.readouterr().out
    assert "dry run" in text and all(t in text for t in DELETED)
    assert snapshot(pafs.LocalFileSystem(), str(lake)) == before
    assert not (lake / ".r2d2-quarantine").exists() and not (out / "journal.jsonl").exists()
    for command in (["restore", str(out)], ["purge", str(out), "--older-than", "0"]):
        assert main(command) == 2  # nothing applied yet: nothing to restore or purge


def test_apply_restore_purge_round_trip_on_a_local_lake(planned: tuple[Path, Path], tmp_path: Path) -> None:
    lake, out = planned
    fs = pafs.LocalFileSystem()
    before = snapshot(fs, str(lake))
    assert main(["apply", str(out), "--execute", "--quiet"]) == 0
    after = snapshot(fs, str(lake))
    assert {k.split("/part")[0].split("/name=")[0] for k in set(before) - set(after)} == set(DELETED)
    assert states(out) == dict.fromkeys(DELETED, "quarantined")
    # a scan of the lake does not see the quarantine, and finds the deleted tables gone
    rescan = tmp_path / "rescan"
    assert main(["scan", str(lake), "--out", str(rescan), "--quiet"]) == 0
    assert {t["id"] for t in json.loads((rescan / "containment.json").read_text())["tables"]} == {"delta_copy", "other"}
    # the report says what was applied
    assert "quarantined" in (out / "report.md").read_text()
    # applying again does nothing more
    assert main(["apply", str(out), "--execute", "--quiet"]) == 0
    assert snapshot(fs, str(lake)) == after
    # restore one, then the rest: byte for byte
    assert main(["restore", str(out), "sales/some", "--execute", "--quiet"]) == 0
    assert states(out)["sales/some"] == "restored"
    assert main(["restore", str(out), "--execute", "--quiet"]) == 0
    assert snapshot(fs, str(lake)) == before
    # re-applied (a local rename keeps modification times: the versions still match), then purged
    assert main(["apply", str(out), "--execute", "--quiet"]) == 0
    assert states(out) == dict.fromkeys(DELETED, "quarantined")
    assert main(["purge", str(out), "--older-than", "30", "--execute", "--quiet"]) == 0  # too young: kept
    assert states(out) == dict.fromkeys(DELETED, "quarantined")
    assert main(["purge", str(out), "--older-than", "0", "--execute", "--quiet"]) == 0
    assert states(out) == dict.fromkeys(DELETED, "purged")
    assert not any((lake / ".r2d2-quarantine").rglob("*.parquet"))
    # a purged table comes back rebuilt from its recipe: the same rows, as Parquet
    assert main(["restore", str(out), "--execute", "--quiet"]) == 0
    assert states(out) == dict.fromkeys(DELETED, "restored")
    original = pq.read_table(lake / "delta_copy" / next(p.name for p in (lake / "delta_copy").glob("*.parquet")))
    rebuilt = pq.read_table(lake / "sales/all")
    assert sorted(rebuilt.to_pylist(), key=lambda r: r["id"]) == sorted(original.to_pylist(), key=lambda r: r["id"])


def test_a_table_or_source_changed_since_the_scan_is_skipped(planned: tuple[Path, Path], capsys) -> None:
    lake, out = planned
    write_table(lake, "sales/some", pa.table({"id": [5], "name": ["n5"]}), name="part-00001.parquet")  # append
    (lake / "delta_copy" / "_delta_log" / "00000000000000000001.json").write_text("{}\n")  # a new commit
    before = snapshot(pafs.LocalFileSystem(), str(lake))
    assert main(["apply", str(out), "--execute"]) == 0
    text = capsys.readouterr().out
    assert "changed since the scan" in text
    # every deletion here rebuilds from delta_copy, which changed: nothing moves
    assert snapshot(pafs.LocalFileSystem(), str(lake)) == before
    assert states(out) == dict.fromkeys(DELETED, "skipped")


def test_an_in_place_rewrite_of_the_same_size_is_seen(planned: tuple[Path, Path]) -> None:
    lake, out = planned
    target = lake / "sales/some/part-00000.parquet"
    data = target.read_bytes()
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 5_000_000_000))
    assert target.read_bytes() == data  # same bytes, same size, a later write time
    assert main(["apply", str(out), "--execute", "--quiet"]) == 0
    assert states(out)["sales/some"] == "skipped"
    assert states(out)["sales/all"] == "quarantined"


def _edit_plan(out: Path, change) -> None:
    plan = json.loads((out / "plan.json").read_text())
    change(plan)
    (out / "plan.json").write_text(json.dumps(plan))


@pytest.mark.parametrize("tamper, message", [
    (lambda p: p["deletions"][0].update(source="other"), "did not find"),
    (lambda p: p["deletions"][1].update(source="sales/all"), "is deleted too"),
    (lambda p: [t.update(protected=True) for t in p["tables"] if t["id"] == "sales/all"], "protected"),
    (lambda p: p["deletions"][0].update(table_version="1:2:abc"), "tampered"),
    (lambda p: p["deletions"].append(dict(p["deletions"][0])), "listed twice"),
    (lambda p: p["deletions"][0].update(table="../../etc"), "segment"),
    (lambda p: p.update(scan_sha256="0" * 64), "SHA-256 differs"),
    (lambda p: p.update(lake="/somewhere/else"), "is for lake"),
])
def test_a_tampered_plan_is_refused_before_anything_moves(planned: tuple[Path, Path], tamper, message,
                                                          capsys) -> None:
    lake, out = planned
    before = snapshot(pafs.LocalFileSystem(), str(lake))
    _edit_plan(out, tamper)
    assert main(["apply", str(out), "--execute"]) == 2
    assert message in capsys.readouterr().err
    assert snapshot(pafs.LocalFileSystem(), str(lake)) == before
    assert not (out / "journal.jsonl").exists()


def test_bad_quarantines_and_another_lake_are_refused(planned: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    lake, out = planned
    before = snapshot(pafs.LocalFileSystem(), str(lake))
    for quarantine, message in ((lake / "sales/all/q", "inside table sales/all"),
                                (lake / "trash", "visible to scans"),
                                (tmp_path, "holds the lake root"),
                                ("s3://bucket/q", "not on the lake's storage")):
        assert main(["apply", str(out), "--execute", "--quarantine", str(quarantine)]) == 2
        assert message in capsys.readouterr().err
    assert main(["apply", str(out), "--execute", "--lake", str(tmp_path / "other-lake")]) == 2
    assert "is for lake" in capsys.readouterr().err
    assert snapshot(pafs.LocalFileSystem(), str(lake)) == before
    # a quarantine outside the lake on the same disk is fine
    assert main(["apply", str(out), "--execute", "--quiet", "--quarantine", str(tmp_path / "q"),
                 "--lake", str(lake)]) == 0
    assert len(list((tmp_path / "q").rglob("*.parquet"))) == 3
    assert main(["restore", str(out), "--execute", "--quiet"]) == 0
    assert snapshot(pafs.LocalFileSystem(), str(lake)) == before


def test_two_applies_at_once_one_refuses(planned: tuple[Path, Path], capsys) -> None:
    from r2d2.apply import locked

    lake, out = planned
    before = snapshot(pafs.LocalFileSystem(), str(lake))
    with locked(out, "apply"):  # held by this (live) process
        assert main(["apply", str(out), "--execute"]) == 2
        assert "is working on" in capsys.readouterr().err
    assert snapshot(pafs.LocalFileSystem(), str(lake)) == before
    # a lock left by a dead process is taken over
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket

    (out / "apply.lock").write_text(f"{dead.stdout.strip()} {socket.gethostname()} apply\n")
    assert main(["apply", str(out), "--execute", "--quiet"]) == 0
    assert states(out) == dict.fromkeys(DELETED, "quarantined")
    assert not (out / "apply.lock").exists()


def test_a_full_disk_or_refused_permission_moves_nothing(planned: tuple[Path, Path], monkeypatch, capsys) -> None:
    lake, out = planned
    before = snapshot(pafs.LocalFileSystem(), str(lake))
    monkeypatch.setenv("R2D2_FAULT", "journal.write=enospc")
    assert main(["apply", str(out), "--execute"]) == 1
    assert "No space left" in capsys.readouterr().err
    assert snapshot(pafs.LocalFileSystem(), str(lake)) == before
    from r2d2 import journal

    journal._fault_counts.clear()
    monkeypatch.setenv("R2D2_FAULT", "apply.rename=eacces")
    assert main(["apply", str(out), "--execute"]) == 1  # the first table fails, the others move
    assert "Permission denied" in capsys.readouterr().out
    assert states(out)["sales/all"] == "failed"
    assert (lake / "sales/all/part-00000.parquet").exists()
    journal._fault_counts.clear()
    monkeypatch.delenv("R2D2_FAULT")
    assert main(["apply", str(out), "--execute", "--quiet"]) == 0  # a later run moves it
    assert states(out) == dict.fromkeys(DELETED, "quarantined")
    assert main(["restore", str(out), "--execute", "--quiet"]) == 0
    assert snapshot(pafs.LocalFileSystem(), str(lake)) == before


def test_a_quarantined_copy_that_changed_is_not_restored(planned: tuple[Path, Path], capsys) -> None:
    lake, out = planned
    assert main(["apply", str(out), "--execute", "--quiet"]) == 0
    copy = next((lake / ".r2d2-quarantine").rglob("sales/some/part-00000.parquet"))
    copy.write_bytes(copy.read_bytes()[:-1] + b"X")  # same size, one byte different
    assert main(["restore", str(out), "--execute"]) == 1
    assert "not as it was quarantined" in capsys.readouterr().out
    assert states(out) == {"sales/all": "restored", "sales/by_name": "restored", "sales/some": "quarantined"}
    assert not (lake / "sales/some").exists()
    assert main(["purge", str(out), "--older-than", "0", "--execute"]) == 0  # nor purged
    assert states(out)["sales/some"] == "quarantined"
    assert "SHA-256" in capsys.readouterr().out


def test_a_torn_or_forged_journal(planned: tuple[Path, Path], capsys) -> None:
    lake, out = planned
    assert main(["apply", str(out), "--execute", "--quiet"]) == 0
    journal = out / "journal.jsonl"
    good = journal.read_bytes()
    journal.write_bytes(good + b'{"seq": 99, "at": "x", "ev')  # torn while written: dropped
    assert states(out) == dict.fromkeys(DELETED, "quarantined")
    assert main(["restore", str(out), "sales/some", "--execute", "--quiet"]) == 0  # appends after the cut
    assert journal.read_bytes().startswith(good) and states(out)["sales/some"] == "restored"
    assert main(["apply", str(out), "--execute", "--quiet"]) == 0
    good = journal.read_bytes()
    journal.write_bytes(good.replace(b'"event":"done"', b'"event":"erase"', 1))
    assert main(["restore", str(out), "--execute"]) == 2
    assert "not a valid record" in capsys.readouterr().err
    journal.write_bytes(good.replace(b'"path":"part-00000.parquet"', b'"path":"../../../etc/passwd"', 1))
    assert main(["restore", str(out), "--execute"]) == 2
    assert "segment" in capsys.readouterr().err
    journal.write_bytes(good)
    assert main(["restore", str(out), "--execute", "--quiet"]) == 0


# Every marked step of apply, restore and purge on a local disk, killed with SIGKILL.
KILL_POINTS = [
    ("apply", "apply.intent"), ("apply", "apply.rename@2"), ("apply", "apply.moved"), ("apply", "apply.done@3"),
    ("apply", "journal.write@4"),
    ("restore", "restore.intent"), ("restore", "restore.moved@2"), ("restore", "restore.done"),
    ("purge", "purge.intent"), ("purge", "purge.deleted"), ("purge", "purge.deleted@2"),
    ("restore-purged", "rebuild.written"),
]


@pytest.mark.parametrize("command, point", KILL_POINTS)
def test_kill_at_every_step_then_rerun_or_restore(planned: tuple[Path, Path], command: str, point: str) -> None:
    lake, out = planned
    before = snapshot(pafs.LocalFileSystem(), str(lake))
    args = {"apply": ["apply", str(out), "--execute"], "restore": ["restore", str(out), "--execute"],
            "purge": ["purge", str(out), "--older-than", "0", "--execute"],
            "restore-purged": ["restore", str(out), "--execute"]}[command]
    if command != "apply":
        assert main(["apply", str(out), "--execute", "--quiet"]) == 0
    if command == "restore-purged":
        assert main(["purge", str(out), "--older-than", "0", "--execute", "--quiet"]) == 0
    killed = r2d2(*args, fault=f"{point}=kill")
    assert killed.returncode == -9, killed.stderr
    assert (out / "apply.lock").exists()  # a dead process's lock, taken over below
    rerun = r2d2(*args)
    assert rerun.returncode == 0, rerun.stderr
    expected = {"apply": "quarantined", "restore": "restored", "purge": "purged", "restore-purged": "restored"}
    assert states(out) == dict.fromkeys(DELETED, expected[command])
    if command == "restore-purged":
        return  # rebuilt tables are new files: checked by rows in the round-trip test
    # and whatever happened, a restore brings everything back byte for byte (purged tables aside)
    done = r2d2("restore", str(out), "--execute")
    assert done.returncode == 0, done.stderr
    if command != "purge":
        assert snapshot(pafs.LocalFileSystem(), str(lake)) == before


@pytest.mark.parametrize("point", ["apply.intent", "apply.rename@2", "apply.done"])
def test_kill_during_apply_then_restore_directly(planned: tuple[Path, Path], point: str) -> None:
    lake, out = planned
    before = snapshot(pafs.LocalFileSystem(), str(lake))
    assert r2d2("apply", str(out), "--execute", fault=f"{point}=kill").returncode == -9
    done = r2d2("restore", str(out), "--execute")
    assert done.returncode == 0, done.stderr
    assert snapshot(pafs.LocalFileSystem(), str(lake)) == before


# ---------------------------------------------------------------- S3 (moto on 127.0.0.1)


def remote_round_trip(uri: str, fs: pafs.FileSystem, root: str, out: Path, env: dict[str, str],
                      kills: list[str]) -> None:
    """apply (killed at each of `kills` and re-run), restore byte for byte, re-apply, purge."""
    before = snapshot(fs, root)
    time.sleep(2.1)  # object stores keep whole seconds: versions of just-written objects are unsettled
    scan_and_plan(uri, out)
    for point in kills:
        killed = r2d2("apply", str(out), "--execute", fault=f"{point}=kill", env=env)
        assert killed.returncode == -9, killed.stderr
    done = r2d2("apply", str(out), "--execute", env=env)
    assert done.returncode == 0, done.stderr
    assert states(out) == dict.fromkeys(DELETED, "quarantined")
    assert not any(k.startswith("sales/") for k in snapshot(fs, root))
    # every quarantined object is there, byte for byte
    quarantined = snapshot(fs, root + "/.r2d2-quarantine")
    assert sum(1 for k in quarantined if k.endswith(".parquet")) == 3
    killed = r2d2("restore", str(out), "--execute", fault="restore.copied@2=kill", env=env)
    assert killed.returncode == -9
    done = r2d2("restore", str(out), "--execute", env=env)
    assert done.returncode == 0, done.stderr
    assert snapshot(fs, root) == before
    # restored objects have new modification times: a re-apply sees changed versions and skips
    assert r2d2("apply", str(out), "--execute", env=env).returncode == 0
    assert states(out) == dict.fromkeys(DELETED, "skipped")


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in S3_ENV.items():
        monkeypatch.setenv(key, value)
    return dict(S3_ENV)


def test_apply_and_restore_on_s3_survive_kills(moto_s3: str, s3_env: dict[str, str], tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    write_sales_lake(lake)
    upload(moto_s3, "apply-bucket", lake, "warehouse")
    uri = f"s3://apply-bucket/warehouse?endpoint_override={moto_s3}&scheme=http&region=us-east-1"
    fs = pafs.S3FileSystem(endpoint_override=moto_s3, scheme="http", region="us-east-1")
    # killed after the second object's copy, and after the first original's removal
    remote_round_trip(uri, fs, "apply-bucket/warehouse", tmp_path / "plan", s3_env,
                      ["apply.copied@2", "apply.deleted"])


def remote_purge_cycle(uri: str, quarantine: str, fs: pafs.FileSystem, root: str, qroot: str, out: Path,
                       env: dict[str, str]) -> None:
    """apply into a quarantine elsewhere in the bucket or container; a full disk during a copy is
    undone; purge (killed after its first removal, then re-run) rebuilds first; restore rebuilds."""
    time.sleep(2.1)  # see remote_round_trip
    scan_and_plan(uri, out)
    failed = r2d2("apply", str(out), "--execute", "--quarantine", quarantine, fault="apply.copied@2=enospc", env=env)
    assert failed.returncode == 1 and "No space left" in failed.stdout, failed.stdout + failed.stderr
    # the second copy (the first of sales/by_name) failed: that table stays whole, its copy undone
    assert states(out) == {"sales/all": "quarantined", "sales/by_name": "failed", "sales/some": "quarantined"}
    assert [k for k in snapshot(fs, root) if k.startswith("sales/")] == ["sales/by_name/name=n3/part-00000.parquet"]
    assert not any("by_name" in k for k in snapshot(fs, qroot))
    done = r2d2("apply", str(out), "--execute", "--quarantine", quarantine, env=env)
    assert done.returncode == 0, done.stderr
    assert sum(1 for k in snapshot(fs, qroot) if k.endswith(".parquet")) == 3
    killed = r2d2("purge", str(out), "--older-than", "0", "--execute", fault="purge.deleted=kill", env=env)
    assert killed.returncode == -9
    assert r2d2("purge", str(out), "--older-than", "0", "--execute", env=env).returncode == 0
    assert states(out) == dict.fromkeys(DELETED, "purged")
    assert not any(k.endswith(".parquet") for k in snapshot(fs, qroot))
    assert r2d2("restore", str(out), "--execute", env=env).returncode == 0
    assert states(out) == dict.fromkeys(DELETED, "restored")
    with fs.open_input_file(f"{root}/sales/some/part-00000.parquet") as f:
        assert sorted(pq.read_table(f).column("id").to_pylist()) == list(range(20, 50))


def test_purge_on_s3_rebuilds_first_then_restore_rebuilds(moto_s3: str, s3_env: dict[str, str],
                                                           tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    write_sales_lake(lake)
    upload(moto_s3, "purge-bucket", lake, "w")
    uri = f"s3://purge-bucket/w?endpoint_override={moto_s3}&scheme=http&region=us-east-1"
    fs = pafs.S3FileSystem(endpoint_override=moto_s3, scheme="http", region="us-east-1")
    remote_purge_cycle(uri, f"s3://purge-bucket/r2d2-q?endpoint_override={moto_s3}&scheme=http", fs,
                       "purge-bucket/w", "purge-bucket/r2d2-q", tmp_path / "plan", s3_env)


def test_a_delta_table_is_quarantined_whole_and_rebuilt_as_delta_after_a_purge(tmp_path: Path) -> None:
    from deltalake import DeltaTable, write_deltalake

    lake = tmp_path / "lake"
    base = pa.table({"id": list(range(100)), "v": [i * 1.5 for i in range(100)]})
    write_table(lake, "full", base)
    write_deltalake(str(lake / "recent"), base.slice(0, 40))
    write_deltalake(str(lake / "recent"), base.slice(40, 10), mode="append")  # two commits
    out = tmp_path / "plan"
    assert main(["scan", str(lake), "--out", str(out), "--quiet"]) == 0
    assert main(["plan", str(out), "--out", str(out), "--quiet"]) == 0
    assert [d["table"] for d in json.loads((out / "plan.json").read_text())["deletions"]] == ["recent"]
    before = snapshot(pafs.LocalFileSystem(), str(lake))
    assert main(["apply", str(out), "--execute", "--quiet"]) == 0
    assert not (lake / "recent").exists()
    assert main(["restore", str(out), "--execute", "--quiet"]) == 0
    assert snapshot(pafs.LocalFileSystem(), str(lake)) == before  # the log and every data file
    assert main(["apply", str(out), "--execute", "--quiet"]) == 0
    assert main(["purge", str(out), "--older-than", "0", "--execute", "--quiet"]) == 0
    assert main(["restore", str(out), "--execute", "--quiet"]) == 0
    back = DeltaTable(str(lake / "recent")).to_pyarrow_table()
    assert sorted(back.to_pylist(), key=lambda r: r["id"]) == base.slice(0, 50).to_pylist()


def test_a_journal_pointing_at_another_quarantine_moves_nothing(planned: tuple[Path, Path], tmp_path: Path,
                                                                 capsys) -> None:
    lake, out = planned
    assert main(["apply", str(out), "--execute", "--quiet"]) == 0
    journal = out / "journal.jsonl"
    good = journal.read_text()
    decoy = tmp_path / "decoy"
    shutil.copytree(lake / ".r2d2-quarantine", decoy)  # a look-alike without the mirror's first record
    for mirror in decoy.rglob("journal.jsonl"):
        mirror.write_text("{}\n")
    journal.write_text(good.replace(str(lake / ".r2d2-quarantine"), str(decoy)))
    before = snapshot(pafs.LocalFileSystem(), str(decoy))
    for command in (["restore", str(out), "--execute"], ["purge", str(out), "--older-than", "0", "--execute"]):
        assert main(command) == 2
        assert "does not hold its mirror" in capsys.readouterr().err
    assert snapshot(pafs.LocalFileSystem(), str(decoy)) == before
    journal.write_text(good)
    assert main(["restore", str(out), "--execute", "--quiet"]) == 0


def test_a_file_written_while_a_table_moves_puts_the_table_back(planned: tuple[Path, Path], monkeypatch,
                                                                capsys) -> None:
    import r2d2.apply as apply

    lake, out = planned
    real_fault = apply.fault

    def writer(point: str) -> None:  # a concurrent writer, between the manifest and the rename
        if point == "apply.rename" and not (lake / "sales/all/part-late.parquet").exists():
            write_table(lake, "sales/all", pa.table({"id": [7], "name": ["n7"]}), name="part-late.parquet")
        real_fault(point)

    monkeypatch.setattr(apply, "fault", writer)
    assert main(["apply", str(out), "--execute"]) == 1
    assert "part-late.parquet" in capsys.readouterr().out
    assert states(out)["sales/all"] == "failed"
    assert sorted(p.name for p in (lake / "sales/all").iterdir()) == ["part-00000.parquet", "part-late.parquet"]
    assert not any((lake / ".r2d2-quarantine").rglob("sales/all/*"))


def test_a_file_rewritten_with_the_same_size_while_a_table_moves_puts_the_table_back(
        planned: tuple[Path, Path], monkeypatch, capsys) -> None:
    """Same bytes count, new content, after the manifest hashed it: the rename keeps the file's time,
    which no longer matches the manifest's, so the table goes back instead of into the quarantine
    under a wrong SHA-256."""
    import os

    import r2d2.apply as apply

    lake, out = planned
    real_fault = apply.fault
    target = lake / "sales/all/part-00000.parquet"

    def writer(point: str) -> None:
        if point == "apply.rename" and not getattr(writer, "done", False):
            writer.done = True  # type: ignore[attr-defined]
            data = bytearray(target.read_bytes())
            target.write_bytes(bytes(data))  # same size (and here the same bytes): a new time
            stat = target.stat()
            os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        real_fault(point)

    monkeypatch.setattr(apply, "fault", writer)
    assert main(["apply", str(out), "--execute"]) == 1
    assert "rewritten after it was hashed" in capsys.readouterr().out
    assert states(out)["sales/all"] == "failed"
    assert target.exists() and not any((lake / ".r2d2-quarantine").rglob("sales/all/*"))


def test_a_begin_record_over_a_mebibyte_still_matches_its_mirror(tmp_path: Path) -> None:
    """A plan of thousands of deletions makes a begin record longer than any fixed read: the mirror
    check compares the whole first line, and still refuses a different one."""
    from types import SimpleNamespace

    from r2d2.apply import _check_mirror
    from r2d2.errors import UsageError
    from r2d2.storage import open_lake

    first = b'{"kind": "begin", "deletions": "' + b"x" * (3 << 20) + b'"}'
    (tmp_path / "q" / "id").mkdir(parents=True)
    local = tmp_path / "journal.jsonl"
    local.write_bytes(first + b"\n" + b'{"kind": "done"}\n')
    (tmp_path / "q" / "id" / "journal.jsonl").write_bytes(first + b"\n")
    setting = SimpleNamespace(area=str(tmp_path / "q" / "id"), lake=open_lake(str(tmp_path)))
    _check_mirror(setting, local)  # type: ignore[arg-type]
    (tmp_path / "q" / "id" / "journal.jsonl").write_bytes(first[:-3] + b'y"}\n')
    with pytest.raises(UsageError, match="does not hold its mirror"):
        _check_mirror(setting, local)  # type: ignore[arg-type]
