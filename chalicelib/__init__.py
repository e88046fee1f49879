"""DOFS application logic; `app.py` only wires these modules to Chalice."""
