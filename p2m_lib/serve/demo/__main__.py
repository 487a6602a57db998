"""`python -m p2m_lib.serve.demo [MODEL_DIR] [--endpoint URL] [--wait S] ...`: `p2m demo` on its own.

The demo sidecar's command (see `p2m_lib.serve.manifests`). An entry point, which nothing
imports: the library below it never depends on the CLI.
"""

from p2m_lib.cli.serving import single_command_app

single_command_app("demo")()
