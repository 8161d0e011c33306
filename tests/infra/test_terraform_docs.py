"""infra/terraform/README.md's input and output tables say what variables.tf and outputs.tf say."""

from __future__ import annotations

import json
import re

from tests.infra.tf import DEPLOY_DOC, module, unwrap


def _rows(section: str) -> dict[str, list[str]]:
    text = DEPLOY_DOC.read_text(encoding="utf-8")
    body = text.split(f"<!-- generated:{section}:start -->")[1].split(f"<!-- generated:{section}:end -->")[0]
    rows: dict[str, list[str]] = {}
    for line in body.strip().splitlines()[2:]:
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_the_inputs_table_matches_variables_tf() -> None:
    rows = _rows("inputs")
    variables = module()["variable"]
    assert list(rows) == list(variables), "every variable, in the order of variables.tf"
    for name, body in variables.items():
        kind, default, description = rows[name]
        assert kind == f"`{unwrap(body['type'])}`", name
        expected = (
            "**required**" if "default" not in body else f"`{json.dumps(body['default'], separators=(', ', ': '))}`"
        )
        assert default == expected, name
        assert description == body["description"], name


def test_the_outputs_table_matches_outputs_tf() -> None:
    rows = _rows("outputs")
    outputs = module()["output"]
    assert list(rows) == list(outputs)
    for name, body in outputs.items():
        assert rows[name] == [body["description"]], name
