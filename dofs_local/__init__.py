"""The local stack: DOFS on emulated AWS (moto), no account and no Docker. Not deployed."""
