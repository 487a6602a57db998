"""The `p2m` command line: a thin layer over p2m_lib's stages."""
