"""Configuration: defaults, a YAML file, then R2D2_* environment overrides; bad values are usage errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from r2d2.config import ScanConfig, load_config
from r2d2.errors import UsageError

REPO = Path(__file__).resolve().parents[1]


def test_shipped_defaults_match_the_dataclass() -> None:
    shipped = yaml.safe_load((REPO / "conf" / "default.yaml").read_text())
    assert load_config(REPO / "conf" / "default.yaml", env={}) == ScanConfig()
    assert set(shipped) == set(ScanConfig.__dataclass_fields__)


def test_file_then_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("semantics: set\nsample_rows: 10\n")
    config = load_config(cfg, env={"R2D2_SAMPLE_ROWS": "0", "R2D2_SAMPLE_MAX_SHARE": "0.25"})
    assert (config.semantics, config.sample_rows, config.sample_max_share) == ("set", 0, 0.25)


@pytest.mark.parametrize("env", [{"R2D2_SEMANTICS": "fuzzy"}, {"R2D2_WORKERS": "0"}, {"R2D2_SAMPLE_ROWS": "many"},
                                 {"R2D2_SAMPLE_MAX_SHARE": "2"}])
def test_bad_values_are_usage_errors(env: dict[str, str]) -> None:
    with pytest.raises(UsageError):
        load_config(None, env=env)
