"""`msrag`: the root command. It only composes the commands each layer owns:

- `retrieval/cli.py`: ingest, search, status, reindex, eval, models
- `retrieval/docs_cli.py`: docs list|show|delete|reingest
- `retrieval/transfer_cli.py`: export, import
- `retrieval/docs_cli.py`: docs list|show|delete|reingest
- `assistant/cli.py`: ask, chat
- `ui/cli.py`: ui
- `regress/cli.py`: regress

Settings are created at this edge (`retrieval.console.load_settings`) and handed down.
"""

from __future__ import annotations

import os

# numpy's BLAS would start a thread per core and fight onnxruntime's own pool for the same cores
# (measured 4-5x slower token pooling on 2 cores); set before anything imports numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import typer

import assistant.cli
import regress.cli
import retrieval.cli
import retrieval.docs_cli
import retrieval.transfer_cli
import ui.cli

app = typer.Typer(
    name="msrag",
    help="multistage-rag: ingest documents into Qdrant, search them with one multi-stage query "
    "(dense/BM25 prefetch → ColBERT MaxSim rerank) and chat with cited answers.\n\n"
    "Configuration comes from environment variables and ./.env (see .env.example).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for layer in (
    retrieval.cli,
    retrieval.transfer_cli,
    retrieval.docs_cli,
    assistant.cli,
    ui.cli,
    regress.cli,
):
    layer.register(app)


def main() -> None:
    app()
