"""KFP components: one folder per stage, each a thin wrapper from typed artifacts to one p2m_lib call.

`images` names the container images and holds the decorator every component uses; `runtime` holds
what the component bodies share once they run (in a task's container or a local subprocess).
"""
