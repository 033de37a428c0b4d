import pytest

from gpcluster import config
from gpcluster.errors import UserError


def _write_config(monkeypatch, tmp_path, text):
    path = tmp_path / "gpcluster.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("GPCLUSTER_CONFIG", str(path))
    config.clear_cache()


def test_default_applies_when_nothing_is_set(monkeypatch):
    monkeypatch.delenv("GPCLUSTER_PORT", raising=False)
    assert config.get("port") == 8000


def test_config_file_overrides_default_and_environment_overrides_file(monkeypatch, tmp_path):
    _write_config(monkeypatch, tmp_path, "[gpcluster]\nport = 9001\n")
    assert config.get("port") == 9001
    monkeypatch.setenv("GPCLUSTER_PORT", "9002")
    assert config.get("port") == 9002


def test_paths_derive_from_home(monkeypatch, tmp_path):
    monkeypatch.setenv("GPCLUSTER_HOME", str(tmp_path / "h"))
    monkeypatch.delenv("GPCLUSTER_WAREHOUSE", raising=False)
    assert config.warehouse_path() == tmp_path / "h" / "warehouse.duckdb"
    assert config.store_url() == f"sqlite:///{tmp_path / 'h' / 'store.db'}"


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [("GPCLUSTER_PORT", "eighty", "port must be int"), ("GPCLUSTER_SUPPRESS_ZEROS", "maybe", "true or false")],
)
def test_bad_values_name_the_setting(monkeypatch, env, value, message):
    monkeypatch.setenv(env, value)
    name = env.removeprefix("GPCLUSTER_").lower()
    with pytest.raises(UserError, match=message):
        config.get(name)


def test_unknown_setting_in_file_is_rejected(monkeypatch, tmp_path):
    _write_config(monkeypatch, tmp_path, "[gpcluster]\nportt = 1\n")
    with pytest.raises(UserError, match="unknown setting.*portt"):
        config.get("port")


def test_invalid_toml_names_the_file(monkeypatch, tmp_path):
    _write_config(monkeypatch, tmp_path, "[gpcluster\n")
    with pytest.raises(UserError, match="gpcluster.toml: not valid TOML"):
        config.get("port")
