"""Packages of dlsuite: everything installs under the one top-level name ``dlsuite``.

``apps/``, ``core_layers/`` and ``serving/`` stay at the top of the repository and are mapped to
``dlsuite.apps``, ``dlsuite.core_layers`` and ``dlsuite.serving``; ``dlsuite/`` holds the root
package, the bottom layer (``dlsuite.base``) and the CLI (``dlsuite.cli``). Metadata and
dependencies are in ``setup.cfg``.
"""

from setuptools import find_packages, setup

MAPPED = ("apps", "core_layers", "serving")

package_dir = {"dlsuite": "dlsuite", **{f"dlsuite.{name}": name for name in MAPPED}}
packages = ["dlsuite", *find_packages(include=["dlsuite.*"])]
for name in MAPPED:
    packages += [f"dlsuite.{package}" for package in find_packages(include=[name, f"{name}.*"])]

setup(
    package_dir=package_dir,
    packages=packages,
    package_data={"dlsuite.serving": ["*.json", "manifest/*.json", "manifest/*.html"]},
)
