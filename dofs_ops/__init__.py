"""The operations CLI (`python -m dofs_ops list|show|redrive`, docs/CONTRACT.md section 7), for a
deployed stage or the local stack. A dev tool, like dofs_local: never in the Lambda package."""
