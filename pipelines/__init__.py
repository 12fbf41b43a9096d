"""Item pipelines: thin Scrapy adapters over pure functions (extract, store)."""
