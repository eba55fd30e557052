"""Refresh the vendored bqplot / bqscales front ends from the installed Python packages.

The npm mirror we build from lacks ``bqplot@0.6.1`` and ``bqscales@0.3.7`` (the front ends of
Python bqplot 0.13.1 and bqscales 0.3.7), so the offline embed bundle takes them from the
Python wheels instead: each wheel ships its front end built as one AMD module
(``share/jupyter/nbextensions/<name>/index.js``, ``define(["@jupyter-widgets/base"], ...)``),
the build the classic notebook loads. This script copies that file verbatim after checking it
against the wheel's RECORD hash, and writes a ``package.json`` whose version is the one the
wheel's JupyterLab extension declares (the version the loader matches against the
``_model_module_version`` of exported models). Run it after upgrading Python bqplot, then
commit the vendored files and the updated ``yarn.lock`` (its entries hash the folders):

    python labextension/embed/vendor/update.py
    cd labextension && jlpm install && jlpm build:embed
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import sys
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGES = ("bqplot", "bqscales")


def _checked(dist: metadata.Distribution, suffix: str) -> Path:
    """The installed file of ``dist`` whose RECORD path ends with ``suffix``, hash verified."""
    for f in dist.files or ():
        if f.as_posix().endswith(suffix):
            path = Path(str(f.locate())).resolve()
            if f.hash is not None:
                digest = hashlib.new(f.hash.mode, path.read_bytes()).digest()
                got = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
                if got != f.hash.value:
                    sys.exit(f"{path} does not match {dist.name}'s RECORD hash: reinstall it")
            return path
    sys.exit(f"{dist.name} {dist.version} has no file ending in {suffix}")


def vendor(name: str) -> None:
    dist = metadata.distribution(name)
    amd = _checked(dist, f"share/jupyter/nbextensions/{name}/index.js")
    lab = json.loads(_checked(dist, f"share/jupyter/labextensions/{name}/package.json").read_text())
    license_file = next(
        (Path(str(f.locate())) for f in dist.files or () if f.name in ("LICENSE", "LICENSE.txt")),
        None,
    )
    out = HERE / name
    out.mkdir(exist_ok=True)
    shutil.copyfile(amd, out / "index.js")
    if license_file is not None:
        shutil.copyfile(license_file, out / "LICENSE")
    sha = hashlib.sha256((out / "index.js").read_bytes()).hexdigest()
    package = {
        "name": name,
        "version": lab["version"],
        "description": (
            f"{name} {lab['version']} front end as shipped (AMD build) in the Python wheel "
            f"{dist.name}=={dist.version}; vendored by update.py"
        ),
        "license": lab.get("license", "Apache-2.0"),
        "main": "index.js",
        "peerDependencies": {"@jupyter-widgets/base": lab["dependencies"]["@jupyter-widgets/base"]},
        "svdwidgetsVendored": {
            "from": f"{dist.name}=={dist.version}:share/jupyter/nbextensions/{name}/index.js",
            "sha256": sha,
        },
    }
    (out / "package.json").write_text(json.dumps(package, indent=2) + "\n")
    print(f"{name} {lab['version']} <- {dist.name}=={dist.version} sha256 {sha}")


if __name__ == "__main__":
    for pkg in PACKAGES:
        vendor(pkg)
