"""The Langfuse Python SDK's helpers that read the server's public API, which `observe serve`
does not serve (docs/SERVE.md, "Left out"): what an application sees when it calls them.

Run by observe-cli/tests/it/serve_sdks.rs in either Langfuse venv (current and 2.x).
Connection from the environment, as for the workflow scripts.

    python langfuse_helpers.py

prints one JSON line: whether auth_check() passed, the fallback prompt get_prompt() returned,
and the exception class of each helper that failed.
"""

import json

from langfuse import Langfuse

langfuse = Langfuse()


def error_of(call):
    try:
        call()
        return None
    except Exception as e:  # the SDK's own error classes differ between majors
        return type(e).__name__


def main():
    prompt = langfuse.get_prompt("greeting", fallback="Hello {{name}}")
    print(
        json.dumps(
            {
                "auth_check": langfuse.auth_check(),
                "fallback_prompt": {
                    "is_fallback": prompt.is_fallback,
                    "compiled": prompt.compile(name="Ada"),
                },
                "get_prompt": error_of(lambda: langfuse.get_prompt("no-fallback")),
                "get_dataset": error_of(lambda: langfuse.get_dataset("evaluation-set")),
            }
        )
    )


if __name__ == "__main__":
    main()
