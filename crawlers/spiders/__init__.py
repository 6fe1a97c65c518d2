"""Spiders: each one only fetches and yields items; the pipelines check and write them."""
