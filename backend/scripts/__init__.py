"""Developer commands run with `python -m scripts.<name>` from backend/."""
