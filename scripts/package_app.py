"""`make package`: `chalice package --pkg-format terraform` for one stage, then post-processing.

    python scripts/package_app.py --stage dev --out build/package/dev

The output directory is a Terraform module (see scripts/postprocess_chalice_tf.py) that
infra/stages/<stage> uses as `module "app"`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from dofs_config.stage import UnknownStageError, load_stage, packaged_runtime  # noqa: E402
from scripts.package_bytecode import add_bytecode  # noqa: E402
from scripts.postprocess_chalice_tf import postprocess  # noqa: E402


def package(stage: str, out: Path, *, api_key: bool = True) -> Path:
    try:
        region = load_stage(stage).region
    except UnknownStageError as exc:
        raise SystemExit(str(exc)) from exc
    chalice = Path(sys.executable).parent / "chalice"
    if not chalice.exists():
        raise SystemExit(f"chalice is not installed next to {sys.executable}: run `make venv`")
    out = out.resolve()
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # chalice package reads the region only to name things; the packaged module never hard-codes it.
    env = {**os.environ, "AWS_DEFAULT_REGION": region}
    subprocess.run(  # noqa: S603 - fixed argument list, no shell
        [
            str(chalice),
            "--project-dir",
            str(PROJECT_DIR),
            "package",
            "--pkg-format",
            "terraform",
            "--stage",
            stage,
            str(out),
        ],
        check=True,
        env=env,
    )
    postprocess(out, api_key=api_key)
    add_bytecode(out / "deployment.zip", packaged_runtime())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Package the Chalice app as a Terraform module.")
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--out", type=Path, help="default: build/package/<stage>")
    parser.add_argument("--no-api-key", action="store_true", help="leave the API open (no x-api-key required)")
    args = parser.parse_args(argv)
    out = package(args.stage, args.out or PROJECT_DIR / "build" / "package" / args.stage, api_key=not args.no_api_key)
    print(f"packaged stage {args.stage} into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
