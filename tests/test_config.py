"""Configuration: defaults, a YAML file, then R2D2_* environment overrides; bad values are usage errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from r2d2.config import ScanConfig, load_config, load_plan_config
from r2d2.errors import UsageError

REPO = Path(__file__).resolve().parents[1]


def test_shipped_defaults_match_the_dataclass() -> None:
    shipped = yaml.safe_load((REPO / "conf" / "default.yaml").read_text())
    assert load_config(REPO / "conf" / "default.yaml", env={}) == ScanConfig()
    assert set(shipped) == set(ScanConfig.model_fields)


def test_file_then_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("semantics: set\nsample_rows: 10\n")
    config = load_config(cfg, env={"R2D2_SAMPLE_ROWS": "0", "R2D2_SAMPLE_MAX_SHARE": "0.25"})
    assert (config.semantics, config.sample_rows, config.sample_max_share) == ("set", 0, 0.25)


@pytest.mark.parametrize("env", [{"R2D2_SEMANTICS": "fuzzy"}, {"R2D2_WORKERS": "0"}, {"R2D2_SAMPLE_ROWS": "many"},
                                 {"R2D2_SAMPLE_MAX_SHARE": "2"}, {"R2D2_WORKERS": "100000"},
                                 {"R2D2_DUCKDB_MEMORY_LIMIT": "lots"}, {"R2D2_SAMPLE_MAX_SHARE": "nan"}])
def test_bad_values_are_usage_errors(env: dict[str, str]) -> None:
    key = next(iter(env)).removeprefix("R2D2_").lower()
    with pytest.raises(UsageError, match=key):
        load_config(None, env=env)


@pytest.mark.parametrize("text, key", [
    ("protected: sales/proj\n", "protected"),  # a string is not a list: it must not protect nothing
    ("protected: '*'\n", "protected"),  # nor everything
    ("compute_per_tb_read: -1\n", "compute_per_tb_read"),
    ("compute_per_tb_read: .nan\n", "compute_per_tb_read"),
    ("storage_per_gb_month: {hot: -0.02}\n", "storage_per_gb_month"),
    ("latency_budget_s: '60'\n", "latency_budget_s"),
    ("overrides: [{match: a, protected: 'yes'}]\n", "overrides.0.protected"),
    ("overrides: [{match: a, tier: frozen}]\n", "tier"),
    ("solver: magic\n", "solver"),
    ("protect: [a]\n", "protect"),
    ("- a\n- b\n", "mapping"),
])
def test_plan_config_is_validated_by_schema(tmp_path: Path, text: str, key: str) -> None:
    cfg = tmp_path / "plan.yaml"
    cfg.write_text(text)
    with pytest.raises(UsageError, match=key) as info:
        load_plan_config(cfg)
    assert str(cfg) in str(info.value)


def test_plan_config_accepts_lists_and_globs(tmp_path: Path) -> None:
    cfg = tmp_path / "plan.yaml"
    cfg.write_text("protected: [sales/proj, 'raw/*']\nstorage_per_gb_month: 0.03\n")
    config = load_plan_config(cfg)
    assert config.protected == ("sales/proj", "raw/*") and config.tiers == {"hot": 0.03}


@pytest.mark.parametrize("text, size", [
    ("4GB", 4 * 10**9), ("512 MiB", 512 * 2**20), ("1.5gb", 1_500_000_000), ("30MB", 30 * 10**6)])
def test_memory_sizes_read_as_duckdb_reads_them(text: str, size: int) -> None:
    from r2d2.config import memory_bytes

    assert memory_bytes(text) == size
