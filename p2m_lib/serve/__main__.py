"""`python -m p2m_lib.serve MODEL_DIR [--name N] [--host H] [--port P]`: `p2m serve` on its own.

The serving image's command (see `manifests.py`): it does not depend on how the main CLI is
assembled.
"""

from p2m_lib.cli.serving import single_command_app

single_command_app("serve")()
