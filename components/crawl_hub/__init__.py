"""The crawl_hub component."""

from components.crawl_hub.component import crawl_hub

__all__ = ["crawl_hub"]
