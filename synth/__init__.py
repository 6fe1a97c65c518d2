"""Instruction and QA synthesis: rule-based, OpenAI-compatible servers, LangChain."""
