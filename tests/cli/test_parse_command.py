"""`p2m parse` (rules: a teacher that is not capable): the bare demonstrations and the prompt's layout."""

import json

from typer.testing import CliRunner

from p2m_lib.cli.main import app


def test_parse_json_shows_bare_demonstrations_and_the_prompts_layout(tmp_path):
    prompt = tmp_path / "prompt.txt"
    prompt.write_text('Classify.\n\nReview: "Great phone" -> positive\nReview: "Awful" -> negative\n')

    result = CliRunner().invoke(
        app, ["parse", "--prompt-file", str(prompt), "--json", "--teacher", "smollm2-135m"]
    )

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "instruction": "Classify.",
        "examples": [
            {"input": "Great phone", "output": "positive"},
            {"input": "Awful", "output": "negative"},
        ],
        "layout": {
            "query": "{input} ->",
            "separator": "\n",
            "input_prefix": 'Review: "',
            "input_suffix": '"',
        },
    }
