"""`msrag`: the root command. It only composes the commands each layer owns:

- `msrag/commands/retrieval.py`: ingest, search, status, reindex, eval, models offline
- `msrag/commands/transfer.py`: export, import
- `msrag/commands/docs.py`: docs list|show|delete|reingest|grant|revoke
- `msrag/commands/chat.py`: ask, chat
- `msrag/commands/ui.py`: ui
- `msrag/commands/regress.py`: regress

Settings are created at this edge (`msrag.console.load_settings`) and handed down.
"""

from __future__ import annotations

import os

# numpy's BLAS would start a thread per core and fight onnxruntime's own pool for the same cores
# (measured 4-5x slower token pooling on 2 cores); set before anything imports numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import typer

import msrag.commands.chat
import msrag.commands.docs
import msrag.commands.regress
import msrag.commands.retrieval
import msrag.commands.transfer
import msrag.commands.ui

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
    msrag.commands.retrieval,
    msrag.commands.transfer,
    msrag.commands.docs,
    msrag.commands.chat,
    msrag.commands.ui,
    msrag.commands.regress,
):
    layer.register(app)


def main() -> None:
    app()
