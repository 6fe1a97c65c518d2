"""Scrapy project (spiders, pipelines, settings) and the git/tree-sitter code extractors."""
