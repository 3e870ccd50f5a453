"""Differential fuzzing: generated expressions through amlexec and Data Factory's own engine (``make oracle-fuzz``).

    .venv/bin/python tests/oracle/fuzz_run.py --cases 3000 --seed 1 [--record]

Prints agreement per function family and overall, then every disagreement shrunk to its smallest form,
grouped by outermost function and how the engines differ. ``--record`` writes the shrunk disagreements
(marked ``deviation``: expected to fail, strictly) and a sample of agreeing cases to
``tests/expressions/cases/fuzz.json``. Agreement is ``test_differential.py``'s rule: the same JSON value
and type, or both fail (for errors only that both failed). Exclusions: tests/oracle/README.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from engine import Oracle, oracle_python  # noqa: E402
from fuzz_generator import (  # noqa: E402
    CONTEXT,
    PIPELINE,
    VARIABLES,
    Generator,
    Template,
    family,
    outermost,
    render_template,
    template_variants,
)
from recording import answer_fields  # noqa: E402
from test_differential import same  # noqa: E402

sys.path.insert(0, str(HERE.parent / "expressions"))
from test_cases import same_json  # noqa: E402

from amlexec.expressions import ExpressionError, evaluate, set_strict  # noqa: E402

ROOT = HERE.parents[1]
OUTPUT = ROOT / "tests" / "expressions" / "cases" / "fuzz.json"
FUNCTIONS_SCRIPT = HERE / "engine_functions.py"
# Context functions the oracle adapter cannot carry (it passes pipeline() and variables() only).
NO_CONTEXT = {"activity", "item", "trigger", "triggerBody", "triggerOutputs", "dataset", "linkedService", "items"}
UNCARRIED = ('"NaN"', '"Infinity"', '"-Infinity"')
BRIDGE_ERRORS = ("JSONDecodeError", "UnicodeDecodeError", "UnicodeEncodeError", "BridgeCrash")
SAMPLE_AGREEING = 200


def engine_functions(python: Path) -> dict[str, list[str]]:
    """The engine's function table, by reflection (``engine_functions.py`` under the oracle interpreter)."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    out = subprocess.run([str(python), str(FUNCTIONS_SCRIPT)], capture_output=True, text=True, check=True, env=env)
    line = next(line for line in out.stdout.splitlines() if line.startswith("@@functions "))
    table: dict[str, list[str]] = json.loads(line.removeprefix("@@functions "))
    return table


class Engines:
    """Both engines; the oracle process is restarted when the bridge itself dies."""

    def __init__(self, python: Path) -> None:
        self.python = python
        self.oracle = Oracle(python)

    def engine(self, text: str) -> dict[str, Any]:
        try:
            return self.oracle.ask(text, pipeline=PIPELINE, variables=VARIABLES)
        except (RuntimeError, BrokenPipeError):
            self.oracle = Oracle(self.python)
            return {"ok": False, "error": "BridgeCrash", "message": "the oracle process died"}

    @staticmethod
    def ours(text: str) -> dict[str, Any]:
        try:
            return {"ok": True, "result": evaluate(text, CONTEXT)}
        except ExpressionError as exc:
            return {"ok": False, "error": f"{exc.kind}:{exc.function}", "message": str(exc)}
        except Exception as exc:  # a crash of amlexec (strict mode: InternalExpressionError) is a finding
            return {"ok": False, "crash": True, "error": type(exc).__name__, "message": str(exc)}


def excluded(text: str, answer: dict[str, Any]) -> str | None:
    """Why a case says nothing about the language (None: it counts)."""
    if any(0xD800 <= ord(char) <= 0xDFFF for char in text):
        return "lone surrogate"
    if not answer["ok"] and answer.get("error") in BRIDGE_ERRORS:
        return "bridge failure"
    if answer["ok"]:
        dumped = json.dumps(answer["result"])
        if any(marker in dumped for marker in UNCARRIED):
            return "NaN/Infinity as string"
        if any(0xD800 <= ord(char) <= 0xDFFF for char in json.dumps(answer["result"], ensure_ascii=False)):
            return "lone surrogate"
    return None


def verdict(engine: dict[str, Any], ours: dict[str, Any]) -> str | None:
    """None when the engines agree, else how they differ."""
    if ours.get("crash"):
        return "amlexec crashes"
    if engine["ok"] and ours["ok"]:
        return None if same(ours["result"], engine["result"]) else "different value"
    if engine["ok"]:
        return "only amlexec fails"
    if ours["ok"]:
        return "only the engine fails"
    return None


def shrink(engines: Engines, template: Template, kind: str) -> Template:
    """Greedy: take the smallest one-step simplification that still disagrees the same way, until none does."""
    budget = 400
    while budget > 0:
        for candidate in template_variants(template):
            budget -= 1
            text = render_template(candidate)
            engine = engines.engine(text)
            if excluded(text, engine) is None and verdict(engine, engines.ours(text)) == kind:
                template = candidate
                break
            if budget <= 0:
                break
        else:
            break
    return template


def show(answer: dict[str, Any]) -> str:
    if answer["ok"]:
        return json.dumps(answer["result"], ensure_ascii=False)[:160]
    return f"error ({answer['message'].splitlines()[0][:160] if answer['message'] else answer['error']})"


def record_case(text: str, engine: dict[str, Any], ours: dict[str, Any], deviation: str | None) -> dict[str, Any]:
    case: dict[str, Any] = {"expression": text}
    if "pipeline" in text.lower() or "variables" in text.lower():
        case["context"] = CONTEXT
    case.update(answer_fields(text, engine))
    if deviation:
        case["deviation"] = deviation
    return case


def passes(case: dict[str, Any]) -> bool:
    """Whether ``tests/expressions/test_cases.py`` passes the case as amlexec is now (kind and function too)."""
    try:
        value = evaluate(case["expression"], case.get("context"))
    except ExpressionError as exc:
        expected = case.get("error")
        return expected is not None and (exc.kind, exc.function) == (expected["kind"], expected["function"])
    except Exception:
        return False
    return "error" not in case and same_json(value, case["result"])


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def main() -> None:
    # Generated text may hold lone surrogates: print them escaped rather than stop the report.
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="backslashreplace")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--record", action="store_true", help=f"write {OUTPUT.relative_to(ROOT)}")
    parser.add_argument("--show", type=int, default=4, help="examples printed per disagreement group")
    args = parser.parse_args()
    python = oracle_python()
    if python is None:
        raise SystemExit("the oracle environment (.venv-oracle) is missing; run make oracle-env")
    set_strict(True)
    table = engine_functions(python)
    registered = table["lazy"] + table["deterministic"]
    generator = Generator(registered, excluded=set(table["nondeterministic"]) | NO_CONTEXT)
    print(
        f"engine function table (reflection): {len(registered)} deterministic + lazy, "
        f"{len(table['nondeterministic'])} non-deterministic excluded ({', '.join(table['nondeterministic'])})"
    )
    if generator.without_signature:
        print(f"  generated with generic arguments (no signature known): {', '.join(generator.without_signature)}")
    engines = Engines(python)
    totals: Counter[str] = Counter()
    agreed: Counter[str] = Counter()
    exclusions: Counter[str] = Counter()
    groups: dict[tuple[str, str], dict[str, tuple[dict[str, Any], dict[str, Any]]]] = defaultdict(dict)
    agreeing: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
    try:
        for index in range(args.cases):
            template = generator.case(args.seed, index)
            text = render_template(template)
            engine = engines.engine(text)
            reason = excluded(text, engine)
            if reason:
                exclusions[reason] += 1
                continue
            ours = engines.ours(text)
            name = family(template)
            totals[name] += 1
            kind = verdict(engine, ours)
            if kind is None:
                agreed[name] += 1
                agreeing.append((name, text, engine, ours))
                continue
            small = shrink(engines, template, kind)
            small_text = render_template(small)
            small_engine, small_ours = engines.engine(small_text), engines.ours(small_text)
            groups[(f"{family(small)}/{_outer(small)}", kind)][small_text] = (small_engine, small_ours)
    finally:
        engines.oracle.close()

    print(
        f"\nagreement, seed {args.seed}, {args.cases} cases ({sum(exclusions.values())} excluded: {dict(exclusions)})"
    )
    for name in sorted(totals):
        print(f"  {name:<11} {agreed[name]:>5}/{totals[name]:<5} {100 * agreed[name] / totals[name]:6.1f}%")
    overall, count = sum(agreed.values()), sum(totals.values())
    print(f"  {'overall':<11} {overall:>5}/{count:<5} {100 * overall / max(count, 1):6.1f}%")
    print(f"\n{len(groups)} disagreement groups (minimised; distinct forms per group):")
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    for (where, kind), forms in ordered:
        print(f"\n[{where}] {kind}: {len(forms)} form(s)")
        for text, (engine, ours) in sorted(forms.items(), key=lambda item: len(item[0]))[: args.show]:
            print(f"  {text}\n      engine:  {show(engine)}\n      amlexec: {show(ours)}")

    if args.record:
        cases: list[dict[str, Any]] = []
        for (_, kind), forms in ordered:
            for text, (engine, ours) in sorted(forms.items(), key=lambda item: len(item[0])):
                why = f"fuzz: {kind}: engine {show(engine)}; amlexec {show(ours)}"
                cases.append(record_case(text, engine, ours, why[:300]))
        rng = random.Random(args.seed)
        skipped = 0
        by_family: dict[str, list[tuple[str, str, dict[str, Any], dict[str, Any]]]] = defaultdict(list)
        for item in agreeing:
            if len(item[1]) <= 300 and len(json.dumps(item[2].get("result"))) <= 2000:
                by_family[item[0]].append(item)
        per_family = max(1, SAMPLE_AGREEING // max(len(by_family), 1))
        for name in sorted(by_family):
            for _, text, engine, ours in rng.sample(by_family[name], min(per_family, len(by_family[name]))):
                case = record_case(text, engine, ours, None)
                # Both failing agrees here, but test_cases.py also checks the kind and function of the error.
                if passes(case):
                    cases.append(case)
                else:
                    skipped += 1
        # A deviation must fail strictly (xfail strict); one amlexec meanwhile gets right is recorded plain.
        fixed = [case for case in cases if "deviation" in case and passes(case)]
        for case in fixed:
            del case["deviation"]
        # A case holding a lone surrogate cannot be written as UTF-8 (nor read back the same): left out, counted.
        writable = [case for case in cases if _utf8(json.dumps(case, ensure_ascii=False))]
        unwritable = len(cases) - len(writable)
        cases = writable
        if unwritable:
            print(f"{unwritable} case(s) with lone surrogates left out of the case file")
        OUTPUT.write_text(json.dumps(cases, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        marked = sum(1 for case in cases if "deviation" in case)
        print(
            f"\nrecorded {len(cases)} cases ({marked} marked deviation, {len(fixed)} disagreements already passing "
            f"recorded plain) in {OUTPUT.relative_to(ROOT)}; {skipped} sampled agreeing error cases left out: "
            "amlexec's error kind/function differs from classify_errors.classify's reading of the engine message"
        )


def _outer(template: Template) -> str:
    return outermost(template) or "-"


if __name__ == "__main__":
    main()
