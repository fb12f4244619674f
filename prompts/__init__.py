"""The prompt templates (`*.txt`): data, shipped inside the package and loaded by
`assistant/prompts.py` with `importlib.resources`; `MSRAG_PROMPTS_DIR` points at a folder of your
own instead."""
