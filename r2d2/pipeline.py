"""The scan: discover → profile → schema graph → min-max → sample → verify, then the outputs
(`containment.json`, `containment.graphml`). Each stage reports pairs in/out, seconds and bytes read.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import networkx as nx
import pyarrow as pa
from tqdm import tqdm

from r2d2 import malloc
from r2d2.config import ScanConfig
from r2d2.discover import TableRef, discover_tables
from r2d2.engines import Engine, make_engine
from r2d2.errors import TableReadError, concise
from r2d2.minmax import refute_by_minmax
from r2d2.model import (
    CONTAINED,
    NOT_CONTAINED,
    UNKNOWN,
    Candidate,
    Edge,
    ScanResult,
    StageReport,
    TableProfile,
    unsupported_reason,
)
from r2d2.output import prepare_output, write_outputs
from r2d2.parallel import each
from r2d2.sample import (
    ChildSample,
    ParentProbe,
    SampleCheck,
    choose_fragments,
    describe_row,
    make_sample,
    probe_share_bound,
    project_sample,
    row_share,
    take_sample,
    target_fragments,
)
from r2d2.schema_graph import build_schema_graph
from r2d2.state import GROWN, REWRITTEN, SAME, SHRUNK, State, change_kind, load_state, save_state
from r2d2.storage import Lake, open_lake
from r2d2.storage.paths import refuse_inside_lake, scrub
from r2d2.storage.reader import read_rows
from r2d2.verify import (
    PairCheck,
    Twins,
    comparison_order,
    is_exact,
    pair_check,
    plan_fingerprints,
    signature,
    transitive_via,
)


class Progress:
    """tqdm bars on stderr, or nothing with --quiet."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    @contextmanager
    def bar(self, desc: str, total: int | None) -> Iterator[Callable[[], None]]:
        if not self.enabled:
            yield lambda: None
            return
        lock = threading.Lock()  # ticks come from worker threads too (profile, verify)

        def tick() -> None:
            with lock:
                bar.update(1)

        with tqdm(total=total, desc=f"{desc:<8}", unit="", file=sys.stderr, leave=False,
                  dynamic_ncols=True) as bar:
            yield tick


class Scan:
    """One run of the pipeline over a lake; keeps the verdicts as they are decided."""

    def __init__(self, lake: Lake, config: ScanConfig, engine: Engine, progress: Progress,
                 previous: State | None = None) -> None:
        self.lake = lake
        self.config = config
        self.engine = engine
        self.progress = progress
        self.stages: list[StageReport] = []
        self.edges: dict[tuple[str, str], Edge] = {}
        self.profiles: dict[str, TableProfile] = {}
        self.previous = previous  # an earlier scan's state: unchanged tables and pairs are not redone
        self.run_id = run_id()
        self.reused: set[str] = set()  # tables whose profile came from the state (unchanged)
        self.changes: dict[str, str] = {}  # re-profiled tables the state knew: GROWN, SHRUNK or REWRITTEN
        self.refs: dict[str, TableRef] = {}
        self.warnings: list[str] = []
        self.carried: dict[tuple[str, str], Candidate] = {}  # pairs whose verdict came from the state
        self._read_for: tuple[list[Candidate], int] | None = None  # the last verify_bytes: (pairs, bytes)
        self._checks: dict[tuple[str, str], PairCheck] = {}

    @contextmanager
    def stage(self, name: str, pairs_in: int) -> Iterator[StageReport]:
        report = StageReport(name, pairs_in=pairs_in)
        self.engine.begin_stage(name)
        start, bytes_before = time.perf_counter(), self.lake.counter.total
        yield report
        report.seconds = round(time.perf_counter() - start, 4)
        report.bytes_read = self.lake.counter.total - bytes_before
        self.stages.append(report)

    def check(self, cand: Candidate) -> PairCheck:
        """The pair's column sets as verify compares them, worked out once per pair (verify asks
        for them while planning, comparing and chaining; the tables' columns do not change)."""
        known = self._checks.get(cand.key)
        if known is None:
            known = self._checks[cand.key] = pair_check(cand, self.profiles[cand.parent], self.profiles[cand.child])
        return known

    def decide(self, cand: Candidate, status: str, stage: str, reason: str) -> None:
        self.edges[cand.key] = Edge(cand.parent, cand.child, status, stage, reason)

    def readable(self, cand: Candidate) -> bool:
        return self.profiles[cand.parent].error is None and self.profiles[cand.child].error is None

    def mark_unreadable(self, exc: TableReadError) -> None:
        profile = self.profiles.get(exc.table)
        if profile is not None and profile.error is None:
            profile.error = str(exc)

    def run(self) -> tuple[ScanResult, nx.DiGraph]:
        with self.stage("discover", 0):
            discover = getattr(self.engine, "discover", None)  # an engine may know the lake's tables (a catalog)
            refs, warnings = discover(self.lake) if discover is not None else discover_tables(self.lake)
        with self.stage("profile", 0), self.progress.bar("profile", len(refs)) as tick:
            profiles = self.profile(refs, tick)
        self.profiles = {p.id: p for p in profiles}
        freeze_long_lived()
        usable = sum(p.usable for p in profiles)
        with self.stage("schema", usable * (usable - 1)) as st:
            graph, candidates = build_schema_graph(profiles)
            st.pairs_out = len(candidates)
        todo = self.carry_over(candidates) if self.previous is not None else candidates
        survivors = self.run_minmax(todo)
        survivors = self.run_sample(self.engine, survivors)
        self.run_verify(self.engine, [c for c in survivors if self.readable(c)])
        self.price_savings()
        # A table found unreadable late (a file its Delta log lists is missing, say) is in no edge
        # (DESIGN §1-2), whatever was decided about its pairs before.
        edges = [self.edges[c.key] for c in candidates if self.readable(c)]
        for e in edges:
            e.run = e.run or self.run_id
        profiles = [self.profiles[p.id] for p in profiles]  # a table profiled again late replaced its profile
        result = ScanResult(self.lake.uri, self.config.semantics, profiles, edges, self.stages,
                            warnings + self.warnings, self.run_id, self.previous.run if self.previous else None)
        return result, graph

    def profile(self, refs: list[TableRef], tick: Callable[[], None]) -> list[TableProfile]:
        """Every table's profile: from the state for a table whose version is the one it was profiled
        at (its files, sizes and times unchanged), else read (footers or the Delta log)."""
        if self.previous is None:
            return self.engine.profile_tables(refs, tick)

        def version(ref: TableRef) -> str | None:
            try:
                if not ref.error:
                    ref.listing = self.lake.listing(ref.location)  # kept: profiling a changed table reuses it
                return ref.listing[0] if ref.listing else None
            except OSError:
                return None

        # listings: on more threads where waiting for them is most of the time (object stores)
        versions = each(version, refs, self.config.workers, waited=lambda: self.lake.counter.waited)
        known: dict[str, TableProfile] = {}
        fresh = []
        for ref, now in zip(refs, versions):
            before = self.previous.profiles.get(ref.id)
            if now is not None and before is not None and before.version == now and before.format == ref.format \
                    and before.location == ref.location:
                known[ref.id] = before
                tick()
            else:
                fresh.append(ref)
        self.reused = set(known)
        self.refs = {ref.id: ref for ref in refs}
        profiled = {p.id: p for p in self.engine.profile_tables(fresh, tick)} if fresh else {}
        for table_id, profile in profiled.items():  # appended to, or only lost files: see carry_over
            before = self.previous.profiles.get(table_id)
            if before is not None and profile.error is None:
                self.changes[table_id] = change_kind(self.lake, before, profile)
        return [known.get(ref.id) or profiled[ref.id] for ref in refs]

    def carry_over(self, candidates: list[Candidate]) -> list[Candidate]:
        """Carry over the verdict of every pair whose two tables are unchanged since the state's
        scan (with the stage, reason and run that decided it), and the verdicts that changes of one
        direction cannot undo: a parent that only gained rows still contains what it contained, and
        so does one whose child only lost rows; a child that only gained rows (or whose parent only
        lost rows) is still not contained. Return the pairs to decide. Unknown verdicts are decided
        again (an engine failure may not recur)."""
        assert self.previous is not None
        with self.stage("carry", len(candidates)) as st:
            todo = []
            for cand in candidates:
                before = self.previous.verdicts.get(cand.key)
                if before is None or before.status == UNKNOWN:
                    todo.append(cand)
                    continue
                parent = SAME if cand.parent in self.reused else self.changes.get(cand.parent, REWRITTEN)
                child = SAME if cand.child in self.reused else self.changes.get(cand.child, REWRITTEN)
                if parent == child == SAME:
                    self.edges[cand.key] = Edge(cand.parent, cand.child, before.status, before.stage, before.reason,
                                                before.run)
                    self.carried[cand.key] = cand
                elif (before.status == CONTAINED and parent in (SAME, GROWN) and child in (SAME, SHRUNK)) or \
                        (before.status == NOT_CONTAINED and parent in (SAME, SHRUNK) and child in (SAME, GROWN)):
                    since = [f"{t} only {'gained' if kind == GROWN else 'lost'} rows"
                             for t, kind in ((cand.parent, parent), (cand.child, child)) if kind != SAME]
                    self.decide(cand, before.status, before.stage,
                                f"{before.reason} (run {before.run}); still so, as since then {' and '.join(since)}")
                    self.carried[cand.key] = cand
                else:
                    todo.append(cand)
            for table_id in sorted({t for c in todo for t in c.key} & self.reused):
                # their statistics: min-max, sampling and reading need them
                if not self.previous.hydrate(self.profiles[table_id]):
                    self.warnings.append(f"the state's statistics of {table_id} are unreadable; profiled again")
                    self.profiles[table_id] = self.engine.profile_tables([self.refs[table_id]], lambda: None)[0]
            st.pairs_out = len(todo)
        return todo

    def price_savings(self) -> None:
        """Each pruning stage's spared bytes in seconds, at the pace verify read and compared in this
        run (its bytes over its seconds): what the stage saved, beside what it cost (its seconds)."""
        verify = next((s for s in self.stages if s.name == "verify"), None)
        if verify is None or not verify.bytes_read or not verify.seconds:
            return
        for st in self.stages:
            if st.bytes_spared:
                st.seconds_spared = round(st.bytes_spared * verify.seconds / verify.bytes_read, 6)

    def run_minmax(self, candidates: list[Candidate]) -> list[Candidate]:
        survivors = []
        with self.stage("minmax", len(candidates)) as st:
            for cand in candidates:
                reason = refute_by_minmax(cand, self.profiles[cand.parent], self.profiles[cand.child],
                                          self.config.semantics)
                if reason:
                    self.decide(cand, NOT_CONTAINED, "minmax", reason)
                else:
                    survivors.append(cand)
            st.pairs_out = len(survivors)
            st.bytes_spared = self.verify_bytes_spared(candidates, survivors)
        return survivors

    def verify_bytes_spared(self, before: list[Candidate], after: list[Candidate]) -> int:
        """What verify would read for a stage's input pairs minus for its survivors: 0 when the stage
        refuted nothing. Each list's figure is kept, as one stage's survivors are the next's input
        (about 0.03 s a figure on the 800-table wide lake, where the sample stage takes 0.01 s)."""
        if len(after) == len(before):
            return 0
        return self._verify_bytes(before) - self._verify_bytes(after)

    def _verify_bytes(self, pairs: list[Candidate]) -> int:
        if self._read_for is None or self._read_for[0] is not pairs:
            self._read_for = (pairs, verify_bytes(pairs, self.profiles))
        return self._read_for[1]

    def run_sample(self, engine: Engine, pairs: list[Candidate]) -> list[Candidate]:
        with self.stage("sample", len(pairs)) as st:
            if self.config.sample_rows == 0:
                st.pairs_out = len(pairs)
                return pairs
            share = self.config.sample_max_share
            chosen: dict[str, list[int]] = {}
            by_child: dict[str, list[Candidate]] = defaultdict(list)
            spared = spared_by_refuting(pairs, self.profiles)
            for cand in pairs:
                # A parent of one fragment is read whole, by verify; sampling pays only for larger ones.
                if not cand.comparable or len(self.profiles[cand.parent].fragments) < 2 or not spared[cand.key]:
                    continue
                child = self.profiles[cand.child]
                if child.reader != "files":  # no row groups to draw from: read whole by verify alone
                    continue
                if cand.child not in chosen:
                    chosen[cand.child] = choose_fragments(child, self.config.sample_row_groups, self.config.seed)
                parent = self.profiles[cand.parent]
                sample_share = row_share(child, chosen[cand.child])
                # Worth it only if the sample and the probe read less than a refutation spares verify
                # (the tables no other pair needs), and well under the parent. The sample's cost
                # alone may already say no: then the probe's bound (statistics of every parent row
                # group on every column) is not worked out.
                cost = sample_share * compared_bytes(child, [c for c, _ in cand.comparable])
                if sample_share * child.rows > share * parent.rows or cost >= spared[cand.key]:
                    continue
                probe_share = probe_share_bound(child, chosen[cand.child], cand, parent)
                cost += probe_share * compared_bytes(parent, [p for _, p in cand.comparable])
                if probe_share <= share and cost < spared[cand.key]:
                    by_child[cand.child].append(cand)
            samples: dict[str, ChildSample] = {}
            with self.progress.bar("sample", len(by_child)) as tick:
                for child_id in sorted(by_child):
                    drawn = self._draw_sample(child_id, by_child[child_id], chosen[child_id])
                    if drawn is not None:
                        samples[child_id] = drawn
                    tick()
            probes: dict[str, ParentProbe] = {}
            for cand in (c for group in by_child.values() for c in group):
                drawn = samples.get(cand.child)
                if drawn is None:
                    continue
                sample = project_sample(drawn, [c for c, _ in cand.comparable])
                fragments, missing = target_fragments(sample, cand, self.profiles[cand.parent])
                if missing is not None:
                    self.decide(cand, NOT_CONTAINED, "sample",
                                f"sampled row {describe_row(sample, missing)} cannot be in any parent "
                                "row group (statistics)")
                    continue
                if row_share(self.profiles[cand.parent], fragments) > self.config.sample_max_share:
                    continue  # reading most of the parent is verify's job
                probe = probes.setdefault(cand.parent, ParentProbe(self.profiles[cand.parent], [], []))
                probe.fragments = sorted(set(probe.fragments) | set(fragments))
                check = pair_check(cand, self.profiles[cand.parent], self.profiles[cand.child])
                probe.checks.append(SampleCheck(cand, sample, check.parent_colset, check.child_colset))
            with self.progress.bar("probe", len(probes)) as tick:
                verdicts, failed = engine.probe_samples([probes[p] for p in sorted(probes)], tick)
            for exc in failed.values():  # unprobed pairs go on to verify, which will say why
                if isinstance(exc, TableReadError):
                    self.mark_unreadable(exc)
            checked = {c.candidate.key: c.candidate for probe in probes.values() for c in probe.checks}
            for key, reason in sorted(verdicts.items()):
                if reason:
                    self.decide(checked[key], NOT_CONTAINED, "sample", reason)
            survivors = [c for c in pairs if c.key not in self.edges]
            st.bytes_spared = self.verify_bytes_spared(pairs, survivors)
            st.pairs_out = len(survivors)
        return survivors

    def _draw_sample(self, child_id: str, pairs: list[Candidate], fragments: list[int]) -> ChildSample | None:
        """The child's sample on every column any of its pairs compares (see project_sample)."""
        child = self.profiles[child_id]
        used = {c for cand in pairs for c, _ in cand.comparable}
        columns = [c.name for c in child.columns if c.name in used]
        try:
            rows = read_rows(self.lake, child, columns, fragments)
        except TableReadError as exc:
            self.mark_unreadable(exc)
            return None
        except pa.ArrowException:  # a type the sampler cannot handle: verify decides
            return None
        return make_sample(child, columns, take_sample(rows, self.config.sample_rows, self.config.seed, child_id))

    def run_verify(self, engine: Engine, pairs: list[Candidate]) -> None:
        with self.stage("verify", len(pairs)) as st:
            comparable = [c for c in pairs if c.comparable]
            for cand in pairs:
                if not cand.comparable:
                    self.decide(cand, UNKNOWN, "verify", self._unsupported_reason(cand))
            jobs = plan_fingerprints(comparable, self.profiles, self.check)
            with self.progress.bar("verify", len(jobs) + len(comparable)) as tick:
                problems = engine.fingerprint(jobs, tick)
                failed = {table_id: str(exc) for table_id, exc in problems.items()}
                for exc in problems.values():
                    if isinstance(exc, TableReadError):
                        self.mark_unreadable(exc)
                # Proven edges that may settle others by transitivity: only those compared by exact
                # values. A decimal compared as its nearest double (against a float) makes equality
                # non-transitive: 0.10000000000000001 ~ 0.1 (float) ~ 0.1 (decimal), yet the two
                # decimals differ.
                contained: set[tuple[str, str]] = set()
                children: dict[str, set[str]] = defaultdict(set)

                def prove(cand: Candidate) -> None:
                    if is_exact(self.check(cand)):
                        contained.add(cand.key)
                        children[cand.parent].add(cand.child)

                parents = {c.parent for c in comparable}
                for key, cand in self.carried.items():  # proven before, and still true: they may settle others
                    if cand.parent in parents and self.edges[key].status == CONTAINED:
                        prove(cand)
                pending = []
                for cand in comparable:
                    broken = failed.get(cand.parent) or failed.get(cand.child)
                    if broken:
                        self.decide(cand, UNKNOWN, "verify", broken)
                        tick()
                    else:
                        pending.append(cand)
                twins = Twins()
                if self.config.semantics == "bag":
                    pending = self._find_twins(engine, pending, twins, prove, tick)
                # Each pair of twin classes is compared once; its other pairs copy the verdict.
                by_class: dict[tuple[str, str], Candidate] = {}
                for group in compare_batches(comparison_order(pending, self.profiles), self.profiles,
                                             engine.compare_batch, engine.compare_rows):
                    batch, copies = [], []
                    for cand in group:
                        middle = None if cand.unsupported else transitive_via(cand, contained, children)
                        known = by_class.get((twins.find(cand.parent), twins.find(cand.child)))
                        if middle is not None:
                            self.decide(cand, CONTAINED, "transitive",
                                        f"{cand.parent} contains {middle}, which contains {cand.child}")
                            prove(cand)
                        elif known is not None:
                            copies.append((cand, known))
                        else:
                            by_class[twins.find(cand.parent), twins.find(cand.child)] = cand
                            batch.append(cand)
                    self._compare(engine, batch, prove)
                    for cand, known in copies:
                        self._copy_verdict(cand, known, prove)
                    for _ in group:
                        tick()
            st.pairs_out = sum(1 for c in pairs if self.edges[c.key].status == CONTAINED)

    def _compare(self, engine: Engine, pairs: list[Candidate], prove: Callable[[Candidate], None]) -> None:
        """Compare pairs in engine calls bounded by compare_batches, and judge each."""
        for batch in compare_batches(pairs, self.profiles, engine.compare_batch, engine.compare_rows):
            counts: list[tuple[int, int] | None]
            try:
                checks = [self.check(c) for c in batch]
                counts = [*engine.compare(checks, self.config.semantics)]
            except Exception as exc:  # an engine failure costs these pairs, not the scan
                counts = [None] * len(batch)
                problem = f"comparison failed: {type(exc).__name__}: {exc}"
            for cand, count in zip(batch, counts):
                if count is None:
                    self.decide(cand, UNKNOWN, "verify", problem)
                    continue
                self._judge(cand, *count)
                if self.edges[cand.key].status == CONTAINED:
                    prove(cand)

    def _find_twins(self, engine: Engine, pairs: list[Candidate], twins: Twins,
                    prove: Callable[[Candidate], None], tick: Callable[[], None]) -> list[Candidate]:
        """Decide the pairs of tables with the same signature whose reverse pair is also pending
        (likely copies), joining proven twins; returns the other pairs.

        Under bag semantics, C ⊆ P with |C| = |P| makes them equal, so one comparison decides both
        directions; and unequal ones miss as many rows one way as the other. Rounds compare one
        pair per pair of classes, so a class of k copies costs about k comparisons, not k²."""
        keys = {c.key for c in pairs}
        signatures = {t: signature(self.profiles[t]) for t in {t for c in pairs for t in c.key}}

        def mirrored(c: Candidate) -> bool:
            return (not c.unsupported and (c.child, c.parent) in keys
                    and signatures[c.parent] == signatures[c.child])
        mirrors = [c for c in pairs if mirrored(c)]
        rest = [c for c in pairs if not mirrored(c)]
        apart: dict[tuple[str, str], Candidate] = {}  # class pairs proven unequal, by the pair that did
        todo = sorted((c for c in mirrors if c.parent < c.child), key=lambda c: c.key)
        reverse = {c.key: c for c in mirrors if c.parent > c.child}
        while todo:
            batch, later = [], []
            chosen: set[tuple[str, str]] = set()
            for cand in todo:
                pair = twins.pair(cand.parent, cand.child)
                if pair[0] == pair[1]:
                    self._copy_twins(cand, reverse[cand.child, cand.parent], twins, prove)
                elif pair in apart:
                    known = apart[pair]
                    self._copy_apart(cand, known, reverse[cand.child, cand.parent])
                elif pair in chosen:
                    later.append(cand)
                    continue
                else:
                    chosen.add(pair)
                    batch.append(cand)
                    continue
                tick()
                tick()
            self._compare(engine, batch, prove)
            for cand in batch:  # first every join of the round, so that class roots are final below
                if self.edges[cand.key].status == CONTAINED:
                    twins.join(cand.parent, cand.child)
            for cand in batch:
                back = reverse[cand.child, cand.parent]
                edge = self.edges[cand.key]
                if edge.status == CONTAINED:
                    self.decide(back, CONTAINED, "verify", f"{edge.reason}, and both tables have "
                                f"{self.profiles[cand.child].rows} rows: they hold the same rows")
                    prove(back)
                elif edge.status == NOT_CONTAINED:
                    apart[twins.pair(cand.parent, cand.child)] = cand
                    self.decide(back, NOT_CONTAINED, "verify", f"{edge.reason} (both tables have "
                                f"{self.profiles[cand.child].rows} rows: as many miss the other way)")
                else:
                    self.decide(back, edge.status, edge.stage, edge.reason)
                tick()
                tick()
            todo = later
        return rest

    def _copy_twins(self, cand: Candidate, back: Candidate, twins: Twins, prove: Callable[[Candidate], None]) -> None:
        root = twins.find(cand.parent)
        how = f"both hold the same rows as {root}" if root not in cand.key else "hold the same rows (via other copies)"
        for pair in (cand, back):
            self.decide(pair, CONTAINED, "transitive", f"{pair.parent} and {pair.child} {how}")
            prove(pair)

    def _copy_apart(self, cand: Candidate, known: Candidate, back: Candidate) -> None:
        reason = self.edges[known.key].reason
        for pair in (cand, back):
            self.decide(pair, NOT_CONTAINED, "verify",
                        f"{reason} (found between {known.parent} and {known.child}, which hold the same rows "
                        f"as {cand.parent} and {cand.child})")

    def _copy_verdict(self, cand: Candidate, known: Candidate, prove: Callable[[Candidate], None]) -> None:
        """A pair whose tables are twins of a compared pair's: the same verdict."""
        edge = self.edges[known.key]
        same = f"{cand.parent} holds the same rows as {known.parent}" if cand.parent != known.parent else ""
        if cand.child != known.child:
            same += (", and " if same else "") + f"{cand.child} the same rows as {known.child}"
        if edge.status == CONTAINED:
            self.decide(cand, CONTAINED, "transitive", f"{known.parent} contains {known.child}; {same}")
            prove(cand)
        else:
            self.decide(cand, edge.status, edge.stage, f"{edge.reason} ({same})")

    def _judge(self, cand: Candidate, missing: int, total: int) -> None:
        unit = "rows" if self.config.semantics == "bag" else "distinct rows"
        if missing:
            self.decide(cand, NOT_CONTAINED, "verify", f"{missing} of {total} child {unit} not in the parent")
        elif cand.unsupported:
            self.decide(cand, UNKNOWN, "verify", f"all {total} {unit} found on the other columns, but "
                        + self._unsupported_reason(cand))
        else:
            self.decide(cand, CONTAINED, "verify", f"all {total} {unit} found")

    def _unsupported_reason(self, cand: Candidate) -> str:
        child, parent = self.profiles[cand.child], self.profiles[cand.parent]
        mapping = dict(cand.columns)
        parts = []
        for name in cand.unsupported:
            ctype, ptype = child.column(name).type, parent.column(mapping[name]).type
            parts.append(f"column {name} ({ctype}): {unsupported_reason(ctype) or unsupported_reason(ptype)}")
        return "; ".join(parts)


def compare_batches(ordered: list[Candidate], profiles: dict[str, TableProfile], max_pairs: int,
                    max_rows: int) -> Iterator[list[Candidate]]:
    """Consecutive runs of pairs to compare in one engine call: at most `max_pairs` pairs, and at
    most `max_rows` child rows (what a comparison joins, and holds in memory) unless one pair alone
    has more. Bounds the memory of a comparison as tables grow."""
    batch: list[Candidate] = []
    rows = 0
    for cand in ordered:
        child_rows = profiles[cand.child].rows
        if batch and (len(batch) >= max_pairs or rows + child_rows > max_rows):
            yield batch
            batch, rows = [], 0
        batch.append(cand)
        rows += child_rows
    if batch:
        yield batch


def spared_by_refuting(pairs: list[Candidate], profiles: dict[str, TableProfile]) -> dict[tuple[str, str], int]:
    """For each pair, the bytes verify would not read if the pair were refuted before it: the
    compared columns of each of its tables that no other pair needs (verify reads every table that
    some pair needs, so refuting a pair spares nothing else)."""
    users: Counter[str] = Counter()
    for cand in pairs:
        if cand.comparable:  # verify reads a table only for pairs it can compare
            users.update({cand.parent, cand.child})
    spared = {}
    for cand in pairs:
        spared[cand.key] = sum(compared_bytes(profiles[table], [pair[side] for pair in cand.comparable])
                               for table, side in ((cand.child, 0), (cand.parent, 1)) if users[table] == 1)
    return spared


def verify_bytes(pairs: list[Candidate], profiles: dict[str, TableProfile]) -> int:
    """What verify would read for these pairs: each table once, on every column a pair compares."""
    columns: dict[str, set[str]] = defaultdict(set)
    whole = {t: len(p.columns) for t, p in profiles.items()}
    for cand in pairs:
        pairs_of = cand.comparable
        if not pairs_of:
            continue
        # a table whose every column is counted already (a wide parent of many pairs) is passed over
        parent, child = columns[cand.parent], columns[cand.child]
        if len(parent) < whole[cand.parent]:
            parent.update([p for _, p in pairs_of])
        if len(child) < whole[cand.child]:
            child.update([c for c, _ in pairs_of])
    return sum(compared_bytes(profiles[t], list(names)) for t, names in columns.items())


def compared_bytes(table: TableProfile, columns: list[str]) -> int:
    """The bytes of these columns of a table: what reading them for a comparison costs."""
    return sum(table.column_bytes.get(name, 0) for name in columns)


def tidy_result(result: ScanResult, secrets: list[str]) -> None:
    """Table errors, reasons and warnings as outputs show them: no credential the lake URI carried
    (a library's message may quote the URI or its options), and library messages made concise (no
    backtraces or advice blocks). Secrets go first, so that no cut leaves part of one."""
    def tidy(text: str) -> str:
        return concise(scrub(text, secrets))

    for table in result.tables:
        table.error = None if table.error is None else tidy(table.error)
    for edge in result.edges:
        edge.reason = tidy(edge.reason)
    result.warnings = [tidy(w) for w in result.warnings]


def run_id() -> str:
    """A run's id: when it started, UTC, to the microsecond."""
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# Python's full garbage collections walk every live object: a scan holds many (profiles, statistics,
# pairs, verdicts) and makes many more, and with the default thresholds (700, 10, 10) the full ones
# took about a tenth of a scan of the 2,000-table lake (2.06 against 1.83 s, medians of 3
# alternating runs, with the oldest generation's threshold at 100; peak memory unchanged). While
# scans run, full collections wait for 10x more younger ones; the thresholds are put back after.
# The profiles, once made, live until the scan ends: they are frozen (gc.freeze), so that full
# collections stop walking them (800-table wide lake: 2 full collections took 0.11-0.12 s, 0.015 s
# with them frozen). Unfrozen when the last scan ends; left alone in a process that froze objects
# of its own (a pre-forking server, say), whose frozen set r2d2 must not change.
FULL_COLLECTION_EVERY = 100
_collections_lock = threading.Lock()
_scans_running = 0
_thresholds: tuple[int, ...] = ()
_may_freeze = False
_heap_kept = False  # r2d2/malloc.py


@contextmanager
def scan_settings() -> Iterator[None]:
    """While scans run: fewer full collections (above), and malloc keeping freed memory for the
    next batch (r2d2/malloc.py). Both are the process's: put back when the last scan ends."""
    global _scans_running, _thresholds, _may_freeze, _heap_kept
    with _collections_lock:
        if _scans_running == 0:
            _thresholds = gc.get_threshold()
            gc.set_threshold(_thresholds[0], _thresholds[1], max(_thresholds[2], FULL_COLLECTION_EVERY))
            _may_freeze = gc.get_freeze_count() == 0
            _heap_kept = malloc.keep_freed_memory()
        _scans_running += 1
    try:
        yield
    finally:
        with _collections_lock:
            _scans_running -= 1
            if _scans_running == 0:
                gc.set_threshold(*_thresholds)
                if _may_freeze:
                    gc.unfreeze()
                    _may_freeze = False
                if _heap_kept:
                    malloc.give_back()
                    _heap_kept = False


def freeze_long_lived() -> None:
    """What a running scan holds now stays until it ends: out of full collections' way."""
    with _collections_lock:
        if _may_freeze and _scans_running:
            gc.freeze()


def run_scan(lake_uri: str, out_dir: Path | str | None, config: ScanConfig, *, engine: str = "local",
             progress: bool = False, full: bool = False, state: Path | str | None = None,
             **engine_options: Any) -> ScanResult:
    """Scan a lake and (when `out_dir` is given: a folder or a URI) write its outputs there, with
    the state the next scan into `out_dir` starts from (or at `state`, a file path or URI shared by
    scans into dated folders). Unless `full`, a usable state makes this scan incremental (see
    r2d2/state.py)."""
    with scan_settings():
        return _run_scan(lake_uri, out_dir, config, engine, progress, full, state, **engine_options)


def _run_scan(lake_uri: str, out_dir: Path | str | None, config: ScanConfig, engine: str, progress: bool,
              full: bool, state: Path | str | None, **engine_options: Any) -> ScanResult:
    runner: Engine
    if engine == "spark":  # the session comes first: it may be what reaches the lake
        from r2d2.engines.spark import open_spark_scan

        lake, runner = open_spark_scan(lake_uri, config, **engine_options)
    else:
        lake = open_lake(lake_uri)
        runner = make_engine(engine, lake, config, **engine_options)
    kind = engine_kind(runner)
    try:
        previous: State | None = None
        notes: list[str] = []
        if out_dir is not None:
            prepare_output(out_dir, lake.uri)  # absolute for local lakes, without credentials
            if state is not None:
                refuse_inside_lake(lake.uri, state, "state file")
            if not full:
                previous = load_state(out_dir, lake.uri, config.semantics, kind, notes, state)
        result, graph = Scan(lake, config, runner, Progress(progress), previous).run()
        result.warnings = notes + result.warnings
    finally:
        runner.close()
    tidy_result(result, lake.secrets)
    if out_dir is not None:
        write_outputs(result, graph, out_dir)
        save_state(out_dir, lake.uri, config.semantics, kind, result.run or run_id(), result.tables, result.edges,
                   state, previous)
    return result


def engine_kind(engine: Engine) -> str:
    """What a state must have been written by to be reused: the engine and how it reads (their
    profiles name files differently)."""
    read = getattr(engine, "read", None)
    return f"{engine.name}/{read}" if read else engine.name
