"""Code-and-comment extraction from git repositories with tree-sitter."""
