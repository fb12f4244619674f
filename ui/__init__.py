"""The Streamlit chat page (`msrag ui`): chat, checkable sources, uploads."""
