"""The operations CLI is a dev tool: the Lambda package holds the app, never dofs_ops."""

from __future__ import annotations

import zipfile
from pathlib import Path


def test_the_lambda_package_leaves_out_the_dev_tools(packaged_app: Path) -> None:
    with zipfile.ZipFile(packaged_app / "deployment.zip") as package:
        top_level = {name.split("/")[0] for name in package.namelist()}
    assert {"app.py", "chalicelib"} <= top_level
    assert not top_level & {"dofs_ops", "dofs_local", "tests", "scripts"}
