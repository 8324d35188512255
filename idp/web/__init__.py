"""Web handlers: one module per page or endpoint family; `routes.py` is the only URL table."""
