"""The composed settings: each layer declares its own fields, and the generated `.env.example`
and configuration reference are what the field descriptions say (so they cannot drift)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from msrag.settings import LAYERS, Settings, configuration_reference, env_example, variable
from tests.conftest import REPO


class TestLayers:
    def test_the_composed_settings_is_every_layer(self) -> None:
        s = Settings()
        for cls, _, _ in LAYERS:
            assert isinstance(s, cls)

    def test_each_field_is_declared_once_by_one_layer(self) -> None:
        owners: dict[str, str] = {}
        for cls, _, _ in LAYERS:
            parent = set(cls.__mro__[1].model_fields) if cls is not LAYERS[0][0] else set()
            for name in set(cls.model_fields) - parent:
                assert name not in owners, f"{name} declared by {owners[name]} and {cls.__name__}"
                owners[name] = cls.__name__
        assert set(owners) == set(Settings.model_fields)

    @pytest.mark.parametrize(
        ("layer", "foreign"),
        [
            ("RetrievalSettings", ("openai_api_key", "llm_model", "prompts_dir", "auth")),
            ("RetrievalSettings", ("regress_cases", "conversations_db", "chunk_tokens")),
            ("TeamSettings", ("openai_api_key", "regress_cases")),
        ],
    )
    def test_nothing_below_a_layer_knows_its_fields(self, layer: str, foreign: tuple[str]) -> None:
        cls = next(c for c, _, _ in LAYERS if c.__name__ == layer)
        assert not set(foreign) & set(cls.model_fields)

    def test_every_setting_says_what_it_does(self) -> None:
        undocumented = [n for n, f in Settings.model_fields.items() if not f.description]
        assert not undocumented

    def test_query_defaults_come_from_one_place(self) -> None:
        from retrieval.types import QueryPlan

        s = Settings()
        plan = QueryPlan("bm25", query=None)  # type: ignore[arg-type]
        assert (plan.top_k, plan.prefetch_limit, plan.rrf_k, plan.dense_exact, plan.hnsw_ef) == (
            s.top_k,
            s.prefetch_limit,
            s.rrf_k,
            s.dense_exact,
            s.hnsw_ef,
        )


class TestGenerated:
    def test_env_example_is_generated_from_the_descriptions(self) -> None:
        committed = (REPO / ".env.example").read_text()
        assert committed == env_example(), (
            ".env.example drifted from the settings: run "
            "`python -m msrag.settings --env-example > .env.example`"
        )

    def test_every_setting_is_in_both_documents(self) -> None:
        example, reference = env_example(), configuration_reference()
        for name, field in Settings.model_fields.items():
            var = variable(name, field)
            assert f"{var}=" in example
            assert f"`{var}`" in reference

    def test_the_env_example_is_read_back_as_the_defaults(self, tmp_path, monkeypatch) -> None:
        (tmp_path / ".env").write_text(env_example())
        monkeypatch.chdir(tmp_path)
        assert Settings().model_dump() == Settings(_env_file=None).model_dump()

    def test_the_generator_runs_as_a_command(self) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "msrag.settings", "--env-example"],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=True,
        )
        assert done.stdout == env_example()
