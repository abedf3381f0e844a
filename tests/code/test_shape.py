"""The codebase's shape, checked as `make lint` runs (README, "Layout"): the rules issue #12 set
so that a new stage, source, diagnosis kind or rule section stays a small, obvious addition.

- no library source file holds more than 600 lines of code outside its tests;
- no port trait has more than 6 methods;
- a function's `main.rs` only wires (at most 40 lines), names no other function's handler and
  builds no SDK client itself (the wiring helpers in `shared/src/aws/mod.rs` do);
- the Lambda loop (`lambda.rs`) names no handler: every stage plugs into the one shell.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LIBRARY = REPO / "shared" / "src"
FUNCTIONS = REPO / "functions"

MAX_LINES = 600
MAX_PORT_METHODS = 6
MAX_MAIN_LINES = 40


def code_lines(text: str) -> int:
    """Lines outside `#[cfg(test)]` items (a test module inline, or `mod tests;`)."""
    lines = text.split("\n")
    count, i = 0, 0
    while i < len(lines):
        if lines[i].strip().startswith("#[cfg(test)]"):
            j = i + 1
            while j < len(lines) and lines[j].strip().startswith("#["):
                j += 1
            if j < len(lines) and "{" not in lines[j] and lines[j].rstrip().endswith(";"):
                i = j + 1  # `mod tests;`, `use …;`: one line
                continue
            depth, opened = 0, False
            while j < len(lines):
                depth += lines[j].count("{") - lines[j].count("}")
                opened = opened or "{" in lines[j]
                j += 1
                if opened and depth <= 0:
                    break
            i = j
            continue
        count += 1
        i += 1
    return count


def library_files() -> list[Path]:
    return sorted(
        p
        for p in LIBRARY.rglob("*.rs")
        if p.name != "tests.rs" and p.name != "testkit.rs" and "contract" not in p.parts
    )


def test_code_lines_counts_what_is_not_a_test() -> None:
    text = "fn a() {}\n#[cfg(test)]\nmod tests;\n#[cfg(test)]\nmod inline {\n    fn t() {\n    }\n}\nfn b() {}\n"
    assert code_lines(text) == 3  # `fn a`, `fn b` and the empty last line
    # A one-line test-only item hides nothing after it.
    assert code_lines("#[cfg(test)]\nuse x::y;\nfn a() {\n}\n") == 3


def test_no_library_file_holds_more_than_600_lines_of_code() -> None:
    sizes = {p.relative_to(REPO): code_lines(p.read_text()) for p in library_files()}
    assert len(sizes) > 50, sizes
    too_big = {str(p): n for p, n in sizes.items() if n > MAX_LINES}
    assert not too_big, f"split these by idea (README, Layout): {too_big}"


def port_traits() -> dict[str, int]:
    """Every trait in `shared/src/ports`, with its number of methods."""
    traits: dict[str, int] = {}
    for path in sorted((LIBRARY / "ports").glob("*.rs")):
        text = path.read_text()
        for match in re.finditer(r"pub trait (\w+)[^{]*\{", text):
            depth, i = 1, match.end()
            while depth and i < len(text):
                depth += {"{": 1, "}": -1}.get(text[i], 0)
                i += 1
            body = text[match.end() : i]
            traits[match.group(1)] = len(re.findall(r"^\s*(?:async )?fn \w+", body, re.M))
    return traits


def test_no_port_trait_has_more_than_6_methods() -> None:
    traits = port_traits()
    for expected in ("IncidentOpener", "IncidentWriter", "IncidentResolver", "DedupeStore",
                     "RunOnceStore", "ReferenceStore", "EventBus", "Clock"):
        assert expected in traits, traits
    too_wide = {name: n for name, n in traits.items() if n > MAX_PORT_METHODS}
    assert not too_wide, f"split these by capability: {too_wide}"


def test_function_entry_points_only_wire() -> None:
    mains = sorted(FUNCTIONS.glob("*/src/main.rs"))
    assert {p.parts[-3] for p in mains} >= {"triage", "enrich", "runbook", "notify", "resolve"}
    for main in mains:
        text = main.read_text()
        name = main.parts[-3]
        assert len(text.splitlines()) <= MAX_MAIN_LINES, f"{name}: wiring only"
        assert "serve(Shell::new(" in text, f"{name}: not served through the shell"
        others = re.findall(r"responder::handlers::(\w+)", text)
        assert set(others) == {name}, f"{name} names {others}"
        assert "aws_sdk_" not in text, f"{name}: build clients with the responder::aws helpers"


def test_the_lambda_loop_names_no_handler() -> None:
    text = (LIBRARY / "lambda.rs").read_text()
    assert "handlers" not in text, "lambda.rs serves any shelled stage"
